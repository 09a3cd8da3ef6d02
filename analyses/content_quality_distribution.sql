{#- The analytics service's content quality distribution: the pages of the range that have a
    quality score, in five bands, each with its pages, its share of the scored pages (percent)
    and its average words. Every band is listed, with 0 pages when it has none. Vars:
    start_date, end_date (YYYY-MM-DD, inclusive, UTC processing days; unset = unbounded).
    The lower bound of a band is inclusive: a score of 0.7 is 'Good'. -#}
{%- set start_date = analysis_date_var('start_date') -%}
{%- set end_date = analysis_date_var('end_date', not_before='start_date') -%}

with

bands as (
    select
        1 as band_order,
        'Excellent (0.9-1.0)' as quality_bucket
    union all
    select
        2 as band_order,
        'Good (0.7-0.9)' as quality_bucket
    union all
    select
        3 as band_order,
        'Average (0.5-0.7)' as quality_bucket
    union all
    select
        4 as band_order,
        'Poor (0.3-0.5)' as quality_bucket
    union all
    select
        5 as band_order,
        'Very Poor (0.0-0.3)' as quality_bucket
),

scored_pages as (
    select
        word_count,
        case
            when content_quality_score >= 0.9 then 'Excellent (0.9-1.0)'
            when content_quality_score >= 0.7 then 'Good (0.7-0.9)'
            when content_quality_score >= 0.5 then 'Average (0.5-0.7)'
            when content_quality_score >= 0.3 then 'Poor (0.3-0.5)'
            else 'Very Poor (0.0-0.3)'
        end as quality_bucket
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
