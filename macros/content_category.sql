{#- Content category of a media type (the MIME essence: 'text/html', no parameters), from the
    seed mime_content_categories: an exact row ('application/pdf') wins over a family row
    ('image/*'); a media type in neither is 'other'; a missing one 'unknown'. -#}

{#- The family row a media type falls back to: 'image/png' -> 'image/*'. -#}
{% macro mime_type_family(mime_type) -%}
    split_part({{ mime_type }}, '/', 1) || '/*'
{%- endmacro %}

{% macro content_category(exact_category, family_category, mime_type) -%}
    coalesce(
        {{ exact_category }},
        {{ family_category }},
        case when {{ mime_type }} is null then 'unknown' else 'other' end
    )
{%- endmacro %}
