{#- The analytics service's content quality distribution: the pages of the range that have a
    quality score, in five bands, each with its pages, its share of the scored pages (percent)
    and its average words. Every band is listed, with 0 pages when it has none. Vars:
    start_date, end_date (YYYY-MM-DD, inclusive, UTC processing days; unset = unbounded).
    The bands are the project var quality_buckets (content_analytics.quality_bucket). -#}
{%- set start_date = analysis_date_var('start_date') -%}
{%- set end_date = analysis_date_var('end_date', not_before='start_date') -%}

with

bands as (
    select
        quality_bands.band_order,
        quality_bands.quality_bucket
    from (
        values
        {%- for bucket in quality_bucket_list() %}
            ({{ bucket.rank }}, '{{ bucket.label }}'){{ ',' if not loop.last }}
        {%- endfor %}
    ) as quality_bands (band_order, quality_bucket)
),

scored_pages as (
    select
        word_count,
        quality_bucket
    from {{ ref('content_analytics') }}
    where
        content_quality_score is not null
        and processing_date is not null
        and ({{ start_date }} is null or processing_date >= {{ start_date }})
        and ({{ end_date }} is null or processing_date <= {{ end_date }})
),

per_band as (
    select
        quality_bucket,
        count(*) as page_count,
        avg(word_count) as avg_words
    from scored_pages
    group by quality_bucket
),

content_quality_distribution as (
    select
        bands.quality_bucket,
        per_band.avg_words,
        bands.band_order,
        coalesce(per_band.page_count, 0) as page_count,
        coalesce(sum(per_band.page_count) over (), 0) as total_analyzed,
        coalesce(100.0 * per_band.page_count / sum(per_band.page_count) over (), 0) as percentage
    from bands
    left join per_band on bands.quality_bucket = per_band.quality_bucket
)

select
    quality_bucket,
    page_count,
    percentage,
    avg_words,
    cast(total_analyzed as bigint) as total_analyzed
from content_quality_distribution
order by band_order
