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
    {#- every contract column, in contract order, cast to its type (events_casts():
        events_columns(), generated from the loaders' events schema); the two enumerations
        are trimmed and lower-cased; in the free text of the application (message, payload)
        e-mail addresses and credentials are masked, as in every other staging model (the
        raw files keep what the application sent) -#}
    select
        {{ events_casts(normalized=['event_type', 'event_severity'], masked=['event_message', 'event_data']) }}
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
