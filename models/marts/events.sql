{{ config(
    partition_by=[
        {'name': 'event_year', 'data_type': 'integer'},
        {'name': 'event_month', 'data_type': 'integer'},
    ],
    unique_key='event_id',
    recompute={'column': 'event_id', 'values': 'event_ids_to_recompute'},
    watermark='local_clock',
    record_changes=['event_date'],
    order_by=['event_timestamp', 'source_component'],
) }}
{#- One row per event (key event_id), the events contract's columns in contract order with
    the contract's types, plus the partition columns event_year and event_month (UTC month
    of event_date). Deduplication and typing happen in stg_events. Stored in one file per
    month (the loaders' hourly folders hold a few hundred KB each); an incremental run
    rebuilds the events accepted since the watermark (event_ids_to_recompute). -#}

with

stg_events as (
    select * from {{ ref('stg_events') }}
),

events as (
    select
        cast(event_id as varchar) as event_id,
        cast(event_type as varchar) as event_type,
        cast(event_subtype as varchar) as event_subtype,
        cast(event_timestamp as timestamp with time zone) as event_timestamp,
        cast(event_date as date) as event_date,
        cast(event_hour as integer) as event_hour,
        cast(user_id as bigint) as user_id,
        cast(project_id as bigint) as project_id,
        cast(domain_id as bigint) as domain_id,
        cast(scrape_session_id as bigint) as scrape_session_id,
        cast(scrape_page_id as bigint) as scrape_page_id,
        cast(source_component as varchar) as source_component,
        cast(source_module as varchar) as source_module,
        cast(environment as varchar) as environment,
        cast(event_data as json) as event_data,
        cast(event_message as varchar) as event_message,
        cast(event_severity as varchar) as event_severity,
        cast(event_status as varchar) as event_status,
        cast(duration_ms as double) as duration_ms,
        cast(memory_usage_mb as double) as memory_usage_mb,
        cast(cpu_usage_percent as double) as cpu_usage_percent,
        cast(error_code as varchar) as error_code,
        cast(error_category as varchar) as error_category,
        cast(user_action as varchar) as user_action,
        cast(pipeline_stage as varchar) as pipeline_stage,
        cast(pipeline_status as varchar) as pipeline_status,
        cast(items_processed as bigint) as items_processed,
        cast(success_count as bigint) as success_count,
        cast(failure_count as bigint) as failure_count,
        cast(correlation_id as varchar) as correlation_id,
        cast(trace_id as varchar) as trace_id,
        cast(created_at as timestamp with time zone) as created_at,
        cast(year(event_date) as integer) as event_year,
        cast(month(event_date) as integer) as event_month
    from stg_events
)

select * from events
