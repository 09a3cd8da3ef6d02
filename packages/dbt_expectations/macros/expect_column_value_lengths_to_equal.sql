{#- Fails on every non-NULL value whose length differs from value. -#}
{% test expect_column_value_lengths_to_equal(model, column_name, value, row_condition=none) %}
select *
from {{ model }}
where
    {{ column_name }} is not null
    and ({{ row_condition or 'true' }})
    and length(cast({{ column_name }} as varchar)) != {{ value }}
{% endtest %}
