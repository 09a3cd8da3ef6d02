{#- The analytics service's system performance: per UTC hour and source component, the error
    events and the averages of the system_metric and performance events (duration, memory,
    CPU). Vars: start_date, end_date (YYYY-MM-DD, inclusive, UTC days); when neither is set,
    the last hours_back hours up to now (default 24, 1 to 168). The seed counted errors only
    among system_metric and performance events, which are rarely errors; here error_count
    counts every event of the component with severity 'error' or 'critical', whatever its
    type. Newest hour first. -#}
{%- set start_date = analysis_date_var('start_date') -%}
{%- set end_date = analysis_date_var('end_date', not_before='start_date') -%}
{%- set hours_back = analysis_integer_var('hours_back', 24, minimum=1, maximum=168) -%}

with

time_range as (
    select
        case
            when {{ start_date }} is not null
                then cast({{ start_date }} as timestamp) at time zone 'UTC'
            when {{ end_date }} is null then now() - to_hours({{ hours_back }})
        end as from_time,
        case
            when {{ end_date }} is not null
                then cast({{ end_date }} + 1 as timestamp) at time zone 'UTC'
            when {{ start_date }} is null then now()
        end as to_time
),

events as (
    select
        events.source_component,
        events.duration_ms,
        events.memory_usage_mb,
        events.cpu_usage_percent,
        events.event_severity in ('error', 'critical') as is_error,
        events.event_type in ('system_metric', 'performance') as is_metric,
        date_trunc('hour', events.event_timestamp at time zone 'UTC') as hour_utc
    from {{ ref('events') }} as events
    cross join time_range
    where
        (time_range.from_time is null or events.event_timestamp >= time_range.from_time)
        and (time_range.to_time is null or events.event_timestamp < time_range.to_time)
),

system_performance as (
    select
        hour_utc,
        source_component,
        count(*) as event_count,
        count(*) filter (where is_error) as error_count,
        count(*) filter (where is_metric) as metric_event_count,
        avg(duration_ms) filter (where is_metric) as avg_response_time_ms,
        avg(memory_usage_mb) filter (where is_metric) as avg_memory_mb,
        avg(cpu_usage_percent) filter (where is_metric) as avg_cpu_percent
    from events
    group by hour_utc, source_component
)

select * from system_performance
order by hour_utc desc, source_component asc
