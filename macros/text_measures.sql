{#- Measures of a page body. NULL body: NULL measures (nothing was extracted); empty or
    blank body: 0. -#}

{#- Characters (Unicode code points), not bytes. -#}
{% macro text_length(column) -%}
    length({{ column }})
{%- endmacro %}

{#- Words: maximal runs of non-whitespace characters. -#}
{% macro word_count(column) -%}
    case
        when {{ column }} is null then null
        when trim({{ column }}, e' \t\n\r') = '' then 0
        else len(regexp_split_to_array(trim({{ column }}, e' \t\n\r'), '\s+'))
    end
{%- endmacro %}

{#- Paragraphs: blocks of text separated by one or more blank lines. -#}
{% macro paragraph_count(column) -%}
    case
        when {{ column }} is null then null
        else len(list_filter(
            regexp_split_to_array({{ column }}, '\n[ \t\r]*\n'),
            block -> trim(block, e' \t\n\r') <> ''
        ))
    end
{%- endmacro %}
