{#- Source durations are float seconds; ours are integer milliseconds (rounded half away
    from zero). NULL stays NULL, and so does a value no BIGINT of milliseconds can hold (NaN,
    infinity, more than 292 million years): it is out of range, not an error (a warn-level
    test counts such rows). -#}
{% macro seconds_to_ms(column) -%}
    try_cast(round({{ column }} * 1000) as bigint)
{%- endmacro %}

{#- `expression` as SMALLINT, or NULL when its value does not fit (-32,768 .. 32,767): a value
    out of range becomes NULL, never an error (tests/marts/warn_page_values_out_of_range
    counts the pages concerned). -#}
{% macro smallint_or_null(expression) -%}
    case when {{ expression }} between -32768 and 32767 then cast({{ expression }} as smallint) end
{%- endmacro %}
