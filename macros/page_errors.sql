{#- A page's last error. A page has an error when the application recorded an error type or
    message. -#}

{% macro has_error(error_type, error_message) -%}
    ({{ error_type }} is not null or nullif(trim({{ error_message }}), '') is not null)
{%- endmacro %}

{#- Recoverable: the page has an error and retries are left (retry_count < max_retries; an
    unset max_retries is the application's default, 3). Never NULL: false when there is no
    error. -#}
{% macro is_recoverable_error(has_error, retry_count, max_retries) -%}
    coalesce({{ has_error }} and coalesce({{ retry_count }}, 0) < coalesce({{ max_retries }}, 3), false)
{%- endmacro %}

{#- Error category: the seed error_categories' category of the error type, 'other' for an
    error whose type is unknown or missing, NULL when there is no error. -#}
{% macro error_category(matched_category, has_error) -%}
    case when {{ has_error }} then coalesce({{ matched_category }}, 'other') end
{%- endmacro %}
