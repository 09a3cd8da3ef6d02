{{ config(
    materialized='incremental_parquet',
    unique_key='event_id',
    watermark_column='created_at',
    partition_by=[{'name': 'event_month', 'data_type': 'date'}],
    order_by=['event_timestamp', 'source_component'],
) }}
{#- One row per event (key event_id), the SOURCE.md `events` columns in contract order with
    the contract's types. Deduplication and typing happen in stg_events. Stored as Parquet
    partitioned by event_month (the first day of the event's UTC month; one folder per month,
    not the loaders' hourly folders, which hold a few hundred KB each); an incremental run
    upserts the events accepted since the lake's greatest created_at minus the lookback. -#}

with

stg_events as (
    select * from {{ ref('stg_events') }}
    {% if is_incremental() %}
        where created_at > {{ incremental_watermark() }}
    {% endif %}
),

events as (
    {#- the contract's columns in contract order, cast to their types (events_casts():
        events_columns(), generated from the loaders' events schema), then the partition
        column -#}
    select
        {{ events_casts() }},
        cast(date_trunc('month', event_date) as date) as event_month
    from stg_events
)

select * from events
