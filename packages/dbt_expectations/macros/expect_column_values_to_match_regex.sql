{#- Fails on every non-NULL value that does not match the regex (anywhere in the value, as in
    dbt-expectations; anchor it with ^...$ for a full match). -#}
{% test expect_column_values_to_match_regex(model, column_name, regex, row_condition=none) %}
select *
from {{ model }}
where
    {{ column_name }} is not null
    and ({{ row_condition or 'true' }})
    and not regexp_matches(cast({{ column_name }} as varchar), '{{ regex }}')
{% endtest %}
