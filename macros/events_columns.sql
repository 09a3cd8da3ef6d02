{#- The columns of the events contract (SOURCE.md `events`; the loaders' EVENT_SCHEMA in
    loaders/chrono_analytics/events/contract.py), in contract order, with their DuckDB types.
    The one place the column list lives: stg_events casts the source to these types and builds
    its typed empty select from them; the events mart's yml declares the same types in its
    enforced contract. A new contract column is one line here (plus the ymls). -#}
{% macro events_columns() -%}
    {{ return([
        ('event_id', 'varchar'),
        ('event_type', 'varchar'),
        ('event_subtype', 'varchar'),
        ('event_timestamp', 'timestamp with time zone'),
        ('event_date', 'date'),
        ('event_hour', 'integer'),
        ('user_id', 'bigint'),
        ('project_id', 'bigint'),
        ('domain_id', 'bigint'),
        ('scrape_session_id', 'bigint'),
        ('scrape_page_id', 'bigint'),
        ('source_component', 'varchar'),
        ('source_module', 'varchar'),
        ('environment', 'varchar'),
        ('event_data', 'json'),
        ('event_message', 'varchar'),
        ('event_severity', 'varchar'),
        ('event_status', 'varchar'),
        ('duration_ms', 'double'),
        ('memory_usage_mb', 'double'),
        ('cpu_usage_percent', 'double'),
        ('error_code', 'varchar'),
        ('error_category', 'varchar'),
        ('user_action', 'varchar'),
        ('pipeline_stage', 'varchar'),
        ('pipeline_status', 'varchar'),
        ('items_processed', 'bigint'),
        ('success_count', 'bigint'),
        ('failure_count', 'bigint'),
        ('correlation_id', 'varchar'),
        ('trace_id', 'varchar'),
        ('created_at', 'timestamp with time zone'),
    ]) }}
{%- endmacro %}

{#- A select of no rows with every events column, typed: what stg_events reads when the events
    folder holds no file (read_parquet fails on a glob that matches nothing). -#}
{% macro events_empty_select() -%}
    select
    {%- for name, data_type in events_columns() %}
        cast(null as {{ data_type }}) as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
    where false
{%- endmacro %}

{#- The glob pattern of an events source relation rendered as read_parquet('<pattern>', ...),
    still quoted for SQL ('' for '), or none when the relation is not such a call (a unit
    test's fixture CTE). Plain string methods, no `modules.re`, so sqlfluff can render it. -#}
{% macro events_source_glob(relation) -%}
    {%- set text = relation | string -%}
    {%- set prefix = "read_parquet('" -%}
    {%- if text.startswith(prefix) -%}
        {{ return(text[prefix | length:].split("', ")[0]) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}
