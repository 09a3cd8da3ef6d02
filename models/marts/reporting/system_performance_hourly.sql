{{ config(
    partition_by=[{'name': 'event_year', 'data_type': 'integer'}],
    unique_key=['hour_at', 'source_component'],
    recompute={'column': 'event_date', 'values': 'event_days_to_recompute', 'inline': true},
    order_by=['hour_at', 'source_component'],
) }}
{#- The analytics service's system performance query, pre-aggregated: one row per UTC hour and
    source component. error_count counts every event of the component with severity 'error' or
    'critical' (whatever its type); the averages are over its system_metric and performance
    events only, as in the seed's query. -#}

with

events as (
    select * from {{ ref('events') }}
),

classified as (
    select
        source_component,
        duration_ms,
        memory_usage_mb,
        cpu_usage_percent,
        {{ utc_datetime('event_timestamp') }} as event_utc_datetime,
        event_severity in ('error', 'critical') as is_error,
        event_type in ('system_metric', 'performance') as is_metric
    from events
),

system_performance_hourly as (
    select
        source_component,
        cast(event_utc_datetime as date) as event_date,
        cast(year(event_utc_datetime) as integer) as event_year,
        cast(date_trunc('hour', event_utc_datetime) as timestamp) at time zone 'UTC' as hour_at,
        count(*) as event_count,
        count(*) filter (where is_metric) as metric_event_count,
        count(*) filter (where is_error) as error_count,
        avg(duration_ms) filter (where is_metric) as avg_duration_ms,
        avg(memory_usage_mb) filter (where is_metric) as avg_memory_usage_mb,
        avg(cpu_usage_percent) filter (where is_metric) as avg_cpu_usage_percent
    from classified
    group by all
)

select * from system_performance_hourly
