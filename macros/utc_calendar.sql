{#- Calendar parts of a timestamptz, always in UTC whatever the session's TimeZone is. -#}

{#- The wall-clock UTC timestamp (without time zone) of a timestamptz. -#}
{% macro utc_datetime(timestamp_tz) -%}
    ({{ timestamp_tz }} at time zone 'UTC')
{%- endmacro %}

{#- The UTC date. -#}
{% macro utc_date(timestamp_tz) -%}
    cast({{ utc_datetime(timestamp_tz) }} as date)
{%- endmacro %}

{#- A part of the UTC date/time: 'year', 'month', 'day', 'hour', 'week' (ISO 8601 week,
    1..53), 'dow' (day of week, 0 = Sunday .. 6 = Saturday). -#}
{% macro utc_part(part, timestamp_tz) -%}
    date_part('{{ part }}', {{ utc_datetime(timestamp_tz) }})
{%- endmacro %}

{#- Seconds since 1970-01-01 00:00:00 UTC, as BIGINT. -#}
{% macro epoch_seconds(timestamp_tz) -%}
    cast(epoch({{ timestamp_tz }}) as bigint)
{%- endmacro %}

{#- The timestamp, or NULL when it is not finite ('infinity', '-infinity'): calendar parts of
    an infinite timestamp are meaningless (and cannot be cast to a date). -#}
{% macro finite_or_null(timestamp_tz) -%}
    case when isfinite({{ timestamp_tz }}) then {{ timestamp_tz }} end
{%- endmacro %}
