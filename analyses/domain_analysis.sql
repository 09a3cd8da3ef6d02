{#- The analytics service's domain analysis: per domain and domain category, the archived
    captures of the range, their average quality and size, the high-value captures, the
    months with captures and the average extraction time; domains with at least min_records
    captures, best average quality first. Vars: start_date, end_date (YYYY-MM-DD, inclusive,
    UTC archive days; unset = unbounded), limit (default 50, 1 to 200), min_records (default
    10). Captures with a malformed archive timestamp have no archive date and are left out
    (as in the seed). Ties are ordered by domain, so the same data gives the same list. -#}
{%- set start_date = analysis_date_var('start_date') -%}
{%- set end_date = analysis_date_var('end_date', not_before='start_date') -%}
{%- set row_limit = analysis_integer_var('limit', 50, minimum=1, maximum=200) -%}
{%- set min_records = analysis_integer_var('min_records', 10, minimum=1) -%}

with

records as (
    select
        record_id,
        domain,  -- noqa: RF04
        domain_category,
        quality_score,
        content_length,
        is_high_value_content,
        archive_date
    from {{ ref('cdx_records') }}
    where
        archive_date is not null
        and ({{ start_date }} is null or archive_date >= {{ start_date }})
        and ({{ end_date }} is null or archive_date <= {{ end_date }})
),

-- one row per capture: content_analytics.cdx_record_id is cdx_records.record_id
pages as (
    select
        cdx_record_id,
        extraction_time_ms
    from {{ ref('content_analytics') }}
),

domain_analysis as (
    select
        records.domain,
        records.domain_category,
        count(*) as total_records,
        avg(records.quality_score) as avg_quality,
        avg(records.content_length) as avg_content_size_bytes,
        count(*) filter (where records.is_high_value_content) as high_value_count,
        count(distinct date_trunc('month', records.archive_date)) as active_months,
        avg(pages.extraction_time_ms) as avg_extraction_time_ms
    from records
    left join pages on records.record_id = pages.cdx_record_id
    group by records.domain, records.domain_category
    having count(*) >= {{ min_records }}
)

select * from domain_analysis
order by avg_quality desc nulls last, high_value_count desc, domain asc, domain_category asc
limit {{ row_limit }}
