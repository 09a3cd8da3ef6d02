{#- Parse a Wayback timestamp string (YYYYMMDDhhmmss, UTC) into a UTC timestamptz.
    Anything that is not exactly 14 digits forming a real date and time (wrong length,
    letters, month 13, 31 February, minute 60, empty, NULL) gives NULL, never an error. -#}
{% macro parse_wayback_timestamp(column) -%}
    case
        when regexp_full_match({{ column }}, '[0-9]{14}')
            then try_strptime({{ column }}, '%Y%m%d%H%M%S') at time zone 'UTC'
    end
{%- endmacro %}
