{#- Quality measures of a page. -#}

{#- The application's priority (0..10) scaled to 0..1; NULL when the priority is unset (no
    default is invented). -#}
{% macro quality_score(priority_score) -%}
    (cast({{ priority_score }} as double) / 10)
{%- endmacro %}

{#- High-value content: priority above 7. Never NULL: an unset priority is not high value. -#}
{% macro is_high_value_content(priority_score) -%}
    coalesce({{ priority_score }} > 7, false)
{%- endmacro %}

{#- Meaningful content: more than min_chars characters of extracted text that is not blank.
    Never NULL: a page without text (NULL) or with blank text has none (the seed gave NULL or
    true: defect 12). -#}
{% macro has_meaningful_content(text_length, word_count, min_chars=100) -%}
    coalesce({{ text_length }} > {{ min_chars }} and {{ word_count }} > 0, false)
{%- endmacro %}
