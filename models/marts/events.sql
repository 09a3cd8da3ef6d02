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
    {#- the contract's columns in contract order, cast to their types (events_casts():
        events_columns(), generated from the loaders' events schema), then the partition
        columns -#}
    select
        {{ events_casts() }},
        cast(year(event_date) as integer) as event_year,
        cast(month(event_date) as integer) as event_month
    from stg_events
)

select * from events
