{#- The raw events lake, typed and deduplicated: one row per event_id.
    When the events folder holds no file (empty or missing), read_parquet would fail with
    "No files found that match the pattern"; at execution time the glob is counted first and,
    with no file, the model reads a typed empty select with the same columns instead
    (events_empty_select(), built from events_columns()). The choice is made when the view is
    created: rebuild stg_events (any dbt build does) after the first files arrive. -#}
{%- set events_relation = source('events', 'events') -%}
{%- set events_glob = events_source_glob(events_relation) -%}
{%- set read_files = true -%}
{%- if execute and events_glob is not none -%}
    {%- set file_count = run_query("select count(*) from glob('" ~ events_glob ~ "')").columns[0].values()[0] -%}
    {%- set read_files = file_count > 0 -%}
{%- endif -%}
{%- set tie_breakers = [] -%}
{%- for name, _ in events_columns() if name not in ('event_id', 'created_at') -%}
    {%- do tie_breakers.append(name) -%}
{%- endfor %}

with

source as (
    {{ 'select * from ' ~ events_relation if read_files else events_empty_select() }}
),

renamed as (
    select
        -- ids
        cast(event_id as varchar) as event_id,
        cast(user_id as bigint) as user_id,
        cast(project_id as bigint) as project_id,
        cast(domain_id as bigint) as domain_id,
        cast(scrape_session_id as bigint) as scrape_session_id,
        cast(scrape_page_id as bigint) as scrape_page_id,
        cast(correlation_id as varchar) as correlation_id,
        cast(trace_id as varchar) as trace_id,

        -- strings
        {{ normalize_enum('event_type') }} as event_type,
        cast(event_subtype as varchar) as event_subtype,
        cast(source_component as varchar) as source_component,
        cast(source_module as varchar) as source_module,
        cast(environment as varchar) as environment,
        cast(event_data as json) as event_data,
        cast(event_message as varchar) as event_message,
        {{ normalize_enum('event_severity') }} as event_severity,
        cast(event_status as varchar) as event_status,
        cast(error_code as varchar) as error_code,
        cast(error_category as varchar) as error_category,
        cast(user_action as varchar) as user_action,
        cast(pipeline_stage as varchar) as pipeline_stage,
        cast(pipeline_status as varchar) as pipeline_status,

        -- numerics
        cast(event_hour as integer) as event_hour,
        cast(duration_ms as double) as duration_ms,
        cast(memory_usage_mb as double) as memory_usage_mb,
        cast(cpu_usage_percent as double) as cpu_usage_percent,
        cast(items_processed as bigint) as items_processed,
        cast(success_count as bigint) as success_count,
        cast(failure_count as bigint) as failure_count,

        -- dates
        cast(event_date as date) as event_date,

        -- timestamps
        cast(event_timestamp as timestamp with time zone) as event_timestamp,
        cast(created_at as timestamp with time zone) as created_at
    from source
),

deduplicated as (
    {#- Compaction can leave one event in two files for a short time: keep the copy accepted
        first (earliest created_at); remaining ties are broken by every column in contract
        order, so the same files always give the same row. -#}
    select *
    from renamed
    qualify row_number() over (
        partition by event_id
        order by
            created_at asc nulls last,
            {{ tie_breakers | join(' asc nulls last, ') }} asc nulls last
    ) = 1
)

select * from deduplicated
