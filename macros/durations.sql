{#- Source durations are float seconds; ours are integer milliseconds (rounded half away
    from zero). NULL stays NULL. -#}
{% macro seconds_to_ms(column) -%}
    cast(round({{ column }} * 1000) as bigint)
{%- endmacro %}
