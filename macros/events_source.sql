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
