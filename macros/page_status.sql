{#- What a page's pipeline status means for analytics is a lookup in the seed page_statuses
    (extraction_status, filter_decision, status_filter_reason), joined on the lower-case
    status. -#}

{#- The filter reason: the page's own when the application set one, else the one its status
    implies (filtered_list_page -> 'list_page', filtered_already_processed -> 'duplicate',
    skipped -> 'skipped', other filtered_* -> the text after 'filtered_'); NULL for a page
    that was not filtered. -#}
{% macro filter_reason(page_filter_reason, status_filter_reason) -%}
    coalesce(nullif(trim({{ page_filter_reason }}), ''), nullif(trim({{ status_filter_reason }}), ''))
{%- endmacro %}
