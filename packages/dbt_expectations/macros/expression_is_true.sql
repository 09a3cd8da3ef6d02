{#- Fails on every row where the SQL expression is false (as in dbt-expectations, a NULL
    result passes: write NULL-safe expressions, e.g. with `is not distinct from`).
    row_condition limits the rows checked. -#}
{% test expression_is_true(model, expression, row_condition=none) %}
select *
from {{ model }}
where
    ({{ row_condition or 'true' }})
    and not ({{ expression }})
{% endtest %}
