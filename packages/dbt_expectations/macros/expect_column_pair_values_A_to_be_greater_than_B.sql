{#- Fails on every row where column_A is not greater than (or equal to, with or_equal)
    column_B; rows where either is NULL pass. -#}
{% test expect_column_pair_values_A_to_be_greater_than_B(model, column_A, column_B, or_equal=false, row_condition=none) %}
{%- set operator = '>=' if or_equal else '>' %}
select *
from {{ model }}
where
    {{ column_A }} is not null
    and {{ column_B }} is not null
    and ({{ row_condition or 'true' }})
    and not ({{ column_A }} {{ operator }} {{ column_B }})
{% endtest %}
