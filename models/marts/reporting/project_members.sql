{{ config(
    partition_by=[{'name': 'member_kind', 'data_type': 'varchar'}],
    unique_key=['project_id', 'member_kind', 'member_id'],
    order_by=['project_id', 'member_id'],
) }}
{#- Every domain and scrape session of a project with the first and last processing day it
    has pages on: a domain or session whose days all lie in a date range is counted from its
    one row here; only those whose days straddle an end of the range need the days of
    project_activity_daily. For a wide range that is a few thousand rows instead of a row per
    member and day. Every incremental run recomputes it from project_activity_daily. -#}

with

project_activity_daily as (
    select * from {{ ref('project_activity_daily') }}
),

project_members as (
    select
        -- ids
        cast(project_id as integer) as project_id,
        cast(member_id as integer) as member_id,

        -- strings
        cast(member_kind as varchar) as member_kind,

        -- numerics
        cast(count(*) as bigint) as active_days,
        cast(sum(page_count) as bigint) as page_count,

        -- dates
        cast(min(analytics_date) as date) as first_date,
        cast(max(analytics_date) as date) as last_date
    from project_activity_daily
    group by project_id, member_kind, member_id
)

select * from project_members
