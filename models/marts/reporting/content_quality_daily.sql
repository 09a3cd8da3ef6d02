{{ config(
    partition_by=[{'name': 'processing_year', 'data_type': 'integer'}],
    unique_key=['processing_date', 'quality_bucket_rank'],
    recompute={
        'column': 'processing_date',
        'values': 'content_days_to_recompute',
        'inline': true,
        'upstream_columns': {'content_analytics': ['processing_date', 'word_count', 'content_quality_score']},
    },
    order_by=['processing_date', 'quality_bucket_rank'],
) }}
{#- The content quality distribution per processing day: pages per quality bucket with their
    word totals, so the analytics API's distribution over any date range is a sum over a few
    rows per day. An incremental run recomputes the days content_analytics changed (its
    change feed) in a column this model reads. Pages without a processing date (created_at
    NULL or infinite) are left out. -#}

with

content_analytics as (
    select * from {{ ref('content_analytics') }}
),

bucketed as (
    select
        processing_date,
        word_count,
        {{ quality_bucket_rank('content_quality_score') }} as quality_bucket_rank
    from content_analytics
    where content_quality_score is not null and processing_date is not null
),

content_quality_daily as (
    select
        processing_date,
        cast(year(processing_date) as integer) as processing_year,
        quality_bucket_rank,
        {{ quality_bucket_label('quality_bucket_rank') }} as quality_bucket,
        count(*) as page_count,
        count(word_count) as pages_with_words,
        cast(coalesce(sum(word_count), 0) as bigint) as total_word_count
    from bucketed
    group by processing_date, quality_bucket_rank
)

select * from content_quality_daily
