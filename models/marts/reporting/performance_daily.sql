{{ config(
    partition_by=[{'name': 'analytics_year', 'data_type': 'integer'}],
    unique_key=['analytics_date'],
    order_by=['analytics_date'],
) }}
{#- The performance of all projects together per processing day: project_performance_daily
    summed over projects, one row per day, so that the summary and daily trends of all
    projects read one row per day of the range (project_performance_daily has a row per
    project and day: hundreds of thousands at a million pages). Every incremental run
    recomputes it from project_performance_daily (a few hundred thousand narrow rows). -#}

with

project_performance_daily as (
    select * from {{ ref('project_performance_daily') }}
),

performance_daily as (
    select
        -- numerics
        cast(year(analytics_date) as integer) as analytics_year,
        cast(count(*) as bigint) as project_count,
        cast(sum(pages_discovered) as bigint) as pages_discovered,
        cast(sum(pages_processed) as bigint) as pages_processed,
        cast(sum(pages_successful) as bigint) as pages_successful,
        cast(sum(pages_failed) as bigint) as pages_failed,
        cast(sum(scored_pages) as bigint) as scored_pages,
        cast(sum(quality_score_sum) as decimal(18, 3)) as quality_score_sum,
        cast(sum(high_quality_pages) as bigint) as high_quality_pages,
        cast(sum(low_quality_pages) as bigint) as low_quality_pages,
        cast(sum(timed_pages) as bigint) as timed_pages,
        cast(sum(processing_time_ms_sum) as bigint) as processing_time_ms_sum,
        -- summed as an exact decimal, so a recomputed day does not differ in the last bits
        cast(sum(cast(estimated_processing_cost_usd as decimal(38, 12))) as double)
            as estimated_processing_cost_usd,

        -- dates
        cast(analytics_date as date) as analytics_date
    from project_performance_daily
    group by analytics_date
)

select * from performance_daily
