{#- The analytics service's performance summary with its daily trends, one query: a row
    period = 'total' for the whole range, then one row per day. Vars: start_date, end_date
    (YYYY-MM-DD, inclusive, UTC days; unset = unbounded), project_id (unset = every project).
    dbt compile --select performance_summary --vars '{start_date: 2024-01-01, end_date: 2024-01-31}'
    The seed's defects are fixed: sessions are distinct scrape sessions (not project-day
    rows), domains are distinct domain ids of the pages (the seed's project rows have none),
    averages are over pages (not averages of daily averages), and the processing rate divides
    completed pages by the minutes between the first and the last completion of each UTC day,
    never by a span across days. -#}
{%- set start_date = analysis_date_var('start_date') -%}
{%- set end_date = analysis_date_var('end_date', not_before='start_date') -%}
{%- set project_id = analysis_integer_var('project_id', minimum=1) -%}

with

-- the pages of the range by processing day (the UTC day they entered the pipeline)
pages as (
    select
        processing_date,
        domain_id,
        scrape_session_id,
        extraction_status,
        content_quality_score,
        total_processing_time_ms
    from {{ ref('content_analytics') }}
    where
        processing_date is not null
        and ({{ start_date }} is null or processing_date >= {{ start_date }})
        and ({{ end_date }} is null or processing_date <= {{ end_date }})
        and ({{ project_id }} is null or project_id = {{ project_id }})
),

-- the pages that completed in the range, by completion day (UTC)
completions as (
    select
        completed_at,
        cast(completed_at at time zone 'UTC' as date) as completion_date
    from {{ ref('content_analytics') }}
    where
        completed_at is not null
        and ({{ project_id }} is null or project_id = {{ project_id }})
),

completion_days as (
    select
        completion_date,
        count(*) as completed_pages,
        epoch(max(completed_at) - min(completed_at)) / 60.0 as active_minutes
    from completions
    where
        ({{ start_date }} is null or completion_date >= {{ start_date }})
        and ({{ end_date }} is null or completion_date <= {{ end_date }})
    group by completion_date
),

-- the LangExtract cost estimate, additive over project-days
project_days as (
    select
        analytics_date,
        estimated_processing_cost_usd
    from {{ ref('project_analytics') }}
    where
        aggregation_level = 'project'
        and ({{ start_date }} is null or analytics_date >= {{ start_date }})
        and ({{ end_date }} is null or analytics_date <= {{ end_date }})
        and ({{ project_id }} is null or project_id = {{ project_id }})
),

page_figures as (
    select
        coalesce(cast(processing_date as varchar), 'total') as period,
        count(distinct scrape_session_id) as total_sessions,
        count(*) filter (where extraction_status != 'pending') as total_pages,
        count(*) filter (where extraction_status = 'failed') as failed_pages,
        avg(content_quality_score) as avg_quality,
        count(distinct domain_id) as unique_domains,
        avg(total_processing_time_ms) as avg_processing_time_ms
    from pages
    group by grouping sets ((processing_date), ())
),

-- days with a single completion (or all in one instant) have no span and are left out
rate_figures as (
    select
        coalesce(cast(completion_date as varchar), 'total') as period,
        sum(completed_pages) as completed_pages,
        sum(active_minutes) as active_minutes
    from completion_days
    where active_minutes > 0
    group by grouping sets ((completion_date), ())
),

cost_figures as (
    select
        coalesce(cast(analytics_date as varchar), 'total') as period,
        sum(estimated_processing_cost_usd) as total_cost_usd
    from project_days
    group by grouping sets ((analytics_date), ())
),

periods as (
    select period from page_figures
    union
    select period from rate_figures
    union
    select period from cost_figures
),

joined as (
    select
        periods.period,
        page_figures.avg_quality,
        page_figures.avg_processing_time_ms,
        case when periods.period != 'total' then cast(periods.period as date) end as analytics_date,
        coalesce(page_figures.total_sessions, 0) as total_sessions,
        coalesce(page_figures.total_pages, 0) as total_pages,
        rate_figures.completed_pages / rate_figures.active_minutes as avg_processing_rate,
        100.0 * page_figures.failed_pages / nullif(page_figures.total_pages, 0) as avg_error_rate,
        coalesce(cost_figures.total_cost_usd, 0) as total_cost_usd,
        coalesce(page_figures.unique_domains, 0) as unique_domains
    from periods
    left join page_figures on periods.period = page_figures.period
    left join rate_figures on periods.period = rate_figures.period
    left join cost_figures on periods.period = cost_figures.period
),

performance_summary as (
    select
        period,
        analytics_date,
        total_sessions,
        total_pages,
        avg_processing_rate,
        avg_quality,
        avg_error_rate,
        total_cost_usd,
        unique_domains,
        avg_processing_time_ms
    from joined
)

select * from performance_summary
order by period = 'total' desc, analytics_date
