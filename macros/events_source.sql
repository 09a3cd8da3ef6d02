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

{#- The select list of the events contract: `cast(<name> as <type>) as <name>` for each column
    of events_columns(), in contract order, separated by commas and new lines indented for a
    select list at 8 spaces. The columns named in `normalized` are enumerations read through
    normalize_enum() (trimmed, lower-cased) instead; those named in `masked` are free text
    read through mask_personal_data() (e-mail addresses and credentials masked). -#}
{% macro events_casts(normalized=[], masked=[]) -%}
    {%- set items = [] -%}
    {%- for name, data_type in events_columns() -%}
        {%- if name in normalized -%}
            {%- do items.append(normalize_enum(name) ~ ' as ' ~ name) -%}
        {%- elif name in masked -%}
            {%- do items.append(mask_personal_data('cast(' ~ name ~ ' as ' ~ data_type ~ ')') ~ ' as ' ~ name) -%}
        {%- else -%}
            {%- do items.append('cast(' ~ name ~ ' as ' ~ data_type ~ ') as ' ~ name) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ items | join(',\n        ') }}
{%- endmacro %}
