{#- Normalise an enumeration value of the source: trimmed and lower-cased; '' becomes NULL. -#}
{% macro normalize_enum(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}

{#- The media type of a Content-Type header without its parameters, lower-cased:
    'TEXT/HTML; Charset=UTF-8' -> 'text/html'. NULL or blank -> NULL. -#}
{% macro mime_essence(column) -%}
    nullif(lower(trim(split_part({{ column }}, ';', 1))), '')
{%- endmacro %}
