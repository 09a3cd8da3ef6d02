{{ config(
    partition_by=[{'name': 'analytics_year', 'data_type': 'integer'}],
    unique_key=['analytics_date', 'project_id', 'member_kind', 'member_id'],
    recompute={
        'column': 'analytics_date',
        'values': 'content_days_to_recompute',
        'inline': true,
        'upstream_columns': {
            'content_analytics': ['processing_date', 'project_id', 'domain_id', 'scrape_session_id'],
        },
    },
    order_by=['analytics_date', 'project_id', 'member_kind', 'member_id'],
) }}
{#- Which domains and scrape sessions had pages on each processing day of a project: one row
    per project, processing day and domain (member_kind 'domain') or session ('session'), so
    that the distinct domains and sessions of any date range are a count of distinct
    member_id over a few narrow rows per day; project_members holds each member's first and
    last day, so that only members straddling an end of a range are looked up here. -#}

with

content_analytics as (
    select * from {{ ref('content_analytics') }}
    -- an incremental run reads the days it recomputes only (see project_analytics)
    where {{ recomputed_input('processing_date') }}
),

pages as (
    select
        project_id,
        domain_id,
        scrape_session_id,
        processing_date
    from content_analytics
    where processing_date is not null and project_id is not null
),

members as (
    select
        project_id,
        processing_date,
        'domain' as member_kind,
        domain_id as member_id
    from pages
    where domain_id is not null
    union all
    select
        project_id,
        processing_date,
        'session' as member_kind,
        scrape_session_id as member_id
    from pages
    where scrape_session_id is not null
),

project_activity_daily as (
    select
        -- ids
        cast(project_id as integer) as project_id,
        cast(member_id as integer) as member_id,

        -- strings
        cast(member_kind as varchar) as member_kind,

        -- numerics
        cast(year(processing_date) as integer) as analytics_year,
        cast(count(*) as bigint) as page_count,

        -- dates
        cast(processing_date as date) as analytics_date
    from members
    group by project_id, member_id, member_kind, processing_date
)

select * from project_activity_daily
