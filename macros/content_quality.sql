{#- Quality measures of a page. -#}

{#- The application's priority (0..10) scaled to 0..1; NULL when the priority is unset or
    outside 0..10 (no default is invented; tests/marts/warn_page_values_out_of_range counts
    the out-of-range ones). -#}
{% macro quality_score(priority_score) -%}
    (case when {{ priority_score }} between 0 and 10 then cast({{ priority_score }} as double) / 10 end)
{%- endmacro %}

{#- High-value content: priority above 7 (8, 9 or 10). Never NULL: an unset or out-of-range
    priority is not high value. -#}
{% macro is_high_value_content(priority_score) -%}
    coalesce({{ priority_score }} between 8 and 10, false)
{%- endmacro %}

{#- Meaningful content: more than min_chars characters of extracted text that is not blank.
    Never NULL: a page without text (NULL) or with blank text has none. -#}
{% macro has_meaningful_content(text_length, word_count, min_chars=100) -%}
    coalesce({{ text_length }} > {{ min_chars }} and {{ word_count }} > 0, false)
{%- endmacro %}
