{#- Timestamps of the source (PostgreSQL timestamptz) as DuckDB reads them. PostgreSQL's run
    from 4713-11-24 BC to 294276-12-31 23:59:59.999999 UTC; DuckDB's end at 294247-01-10
    04:00:54.775806 UTC, and its postgres scanner wraps a later value around to one near
    290300 BC (it reads 294276-12-31 as 290279-12-14 BC) without an error. No PostgreSQL value
    lies before PostgreSQL's first instant, so every value DuckDB reads before it is such a
    wrapped one. -#}

{#- PostgreSQL's first instant, as a DuckDB timestamptz. -#}
{% macro source_first_instant() -%}
    timestamptz '4713-11-24 (BC) 00:00:00+00'
{%- endmacro %}

{#- True when `column` (a source timestamptz read by DuckDB) holds a value past DuckDB's
    range that the scanner wrapped around. -#}
{% macro is_wrapped_source_timestamp(column) -%}
    ({{ column }} < {{ source_first_instant() }} and isfinite({{ column }}))
{%- endmacro %}

{#- A source timestamptz column for the staging models: NULL where DuckDB cannot hold the
    value (is_wrapped_source_timestamp), the value otherwise (NULL and infinities kept). -#}
{% macro source_timestamp(column) -%}
    case when {{ is_wrapped_source_timestamp(column) }} then null else {{ column }} end
{%- endmacro %}

{#- DuckDB's last instant (UTC), as text: a source value after it is one DuckDB cannot hold
    (is_wrapped_source_timestamp). -#}
{% macro duckdb_last_instant() %}
    {{- return('294247-01-10 04:00:54.775806+00') -}}
{% endmacro %}
