{#- Source durations are float seconds; ours are integer milliseconds (rounded half away
    from zero). NULL stays NULL, and so does a value no BIGINT of milliseconds can hold (NaN,
    infinity, more than 292 million years): it is out of range, not an error (a warn-level
    test counts such rows). -#}
{% macro seconds_to_ms(column) -%}
    try_cast(round({{ column }} * 1000) as bigint)
{%- endmacro %}
