{{ config(
    partition_by=[{'name': 'archive_year', 'data_type': 'integer'}],
    unique_key=['domain', 'domain_category', 'archive_month_start'],
    recompute={
        'column': ['domain', 'archive_month_start'],
        'values': 'domain_months_changed_in_lake',
        'upstream_columns': {
            'cdx_records': [
                'record_id', 'domain', 'domain_category', 'archive_date', 'quality_score', 'content_length',
                'is_high_value_content',
            ],
            'content_analytics': ['cdx_record_id', 'extraction_time_ms'],
        },
    },
    record_changes=['domain'],
    order_by=['archive_month_start', 'domain'],
) }}
{%- set recomputed_group = "{'domain': domain, 'archive_month_start': cast(date_trunc('month', archive_date) as date)}" -%}
{#- The analytics API's domain analysis, pre-aggregated per domain, domain category and archive
    month: sums and counts (not averages), so a date range of whole months sums a few rows per
    domain and the averages stay exact. -#}

with

-- an incremental run reads the records of the (domain, archive month) groups it recomputes
-- only, and their content rows (by record id: content_analytics has no archive date)
cdx_records as (
    select * from {{ ref('cdx_records') }}
    where {{ recomputed_input(recomputed_group) }}
),

content_analytics as (
    select * from {{ ref('content_analytics') }}
    where cdx_record_id in (
        select recomputed_records.record_id from {{ ref('cdx_records') }} as recomputed_records
        where {{ recomputed_input(recomputed_group) }}
    )
),

records as (
    select
        cdx_records.domain,
        cdx_records.domain_category,
        cdx_records.quality_score,
        cdx_records.content_length,
        cdx_records.is_high_value_content,
        content_analytics.extraction_time_ms,
        date_trunc('month', cdx_records.archive_date) as archive_month_start
    from cdx_records
    left join content_analytics on cdx_records.record_id = content_analytics.cdx_record_id
    where cdx_records.archive_date is not null and cdx_records.domain is not null
),

domain_archive_monthly as (
    -- each cast sum keeps its place beside its count (the lake's column order)
    select  -- noqa: ST06
        domain,
        domain_category,
        cast(archive_month_start as date) as archive_month_start,
        cast(year(archive_month_start) as integer) as archive_year,
        count(*) as record_count,
        count(quality_score) as scored_records,
        -- an exact decimal sum: a double sum depends on the order of the rows, so a recomputed
        -- row would differ in the last bits and be rewritten with no change
        sum(cast(quality_score as decimal(18, 3))) as quality_score_sum,
        count(content_length) as sized_records,
        cast(sum(content_length) as bigint) as content_length_sum,
        count(*) filter (where is_high_value_content) as high_value_count,
        count(extraction_time_ms) as timed_extractions,
        cast(sum(extraction_time_ms) as bigint) as extraction_time_ms_sum
    from records
    group by domain, domain_category, archive_month_start
)

select * from domain_archive_monthly
