{{ config(
    partition_by=[{'name': 'analytics_year', 'data_type': 'integer'}],
    unique_key=['analytics_date', 'project_id'],
    recompute={'column': 'analytics_date', 'values': 'project_days_changed_in_lake', 'inline': true},
    order_by=['project_id', 'analytics_date'],
    row_group_size=8192,
) }}
{#- The analytics API's performance summary, pre-aggregated: one row per project and
    processing day (the UTC date of the page's created_at, as in project_analytics), holding
    counts and sums only, so that the summary and daily trends of any date range (and of one
    project) are sums over a few rows per day, with every average weighted by pages. An
    incremental run recomputes the days project_analytics would (pages changed, and pages of
    changed domains or projects, through project_analytics' change feed: the cost rate
    comes from the project). Rows are sorted by
    project in small row groups, so a request for one project reads that project's rows
    only; performance_daily sums the projects per day for requests over all projects. -#}

with

content_analytics as (
    select * from {{ ref('content_analytics') }}
    -- an incremental run reads the days it recomputes only (see project_analytics)
    where {{ recomputed_input('processing_date') }}
),

-- the day's processing cost of the project, as project_analytics computes it from the
-- project's cost settings in its project row of the day (read from the lake, so this model
-- builds without the source; NULL there when the project has no cost estimate)
project_days as (
    select
        project_id,
        analytics_date,
        estimated_processing_cost_usd
    from {{ ref('project_analytics') }}
    where aggregation_level = 'project' and {{ recomputed_input('analytics_date') }}
),

pages as (
    select
        project_id,
        domain_id,
        scrape_session_id,
        processing_date,
        extraction_status,
        total_processing_time_ms,
        content_quality_score
    from content_analytics
    where project_id is not null and processing_date is not null
),

daily as (
    select
        project_id,
        processing_date as analytics_date,
        count(*) as pages_discovered,
        count(*) filter (where extraction_status != 'pending') as pages_processed,
        count(*) filter (where extraction_status = 'success') as pages_successful,
        count(*) filter (where extraction_status = 'failed') as pages_failed,
        count(content_quality_score) as scored_pages,
        -- an exact decimal sum: a double sum depends on the order of the rows
        sum(cast(content_quality_score as decimal(18, 3))) as quality_score_sum,
        count(*) filter (where {{ is_high_quality('content_quality_score') }}) as high_quality_pages,
        count(*) filter (where {{ is_low_quality('content_quality_score') }}) as low_quality_pages,
        count(total_processing_time_ms) as timed_pages,
        sum(total_processing_time_ms) as processing_time_ms_sum,
        count(distinct domain_id) as domain_count,
        count(distinct scrape_session_id) as session_count
    from pages
    group by project_id, processing_date
),

project_performance_daily as (
    select
        -- ids
        cast(daily.project_id as integer) as project_id,

        -- numerics
        cast(year(daily.analytics_date) as integer) as analytics_year,
        cast(daily.pages_discovered as bigint) as pages_discovered,
        cast(daily.pages_processed as bigint) as pages_processed,
        cast(daily.pages_successful as bigint) as pages_successful,
        cast(daily.pages_failed as bigint) as pages_failed,
        cast(daily.scored_pages as bigint) as scored_pages,
        cast(coalesce(daily.quality_score_sum, 0) as decimal(18, 3)) as quality_score_sum,
        cast(daily.high_quality_pages as bigint) as high_quality_pages,
        cast(daily.low_quality_pages as bigint) as low_quality_pages,
        cast(daily.timed_pages as bigint) as timed_pages,
        cast(coalesce(daily.processing_time_ms_sum, 0) as bigint) as processing_time_ms_sum,
        cast(coalesce(project_days.estimated_processing_cost_usd, 0) as double)
            as estimated_processing_cost_usd,
        cast(daily.domain_count as bigint) as domain_count,
        cast(daily.session_count as bigint) as session_count,

        -- dates
        cast(daily.analytics_date as date) as analytics_date
    from daily
    left join project_days
        on daily.project_id = project_days.project_id and daily.analytics_date = project_days.analytics_date
)

select * from project_performance_daily
