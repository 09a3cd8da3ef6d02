{#- Fails on every row whose value lies outside [min_value, max_value] (or the open interval
    when strictly); NULLs pass. row_condition limits the rows checked. -#}
{% test expect_column_values_to_be_between(model, column_name, min_value=none, max_value=none, row_condition=none, strictly=false) %}
select *
from {{ model }}
where
    {{ column_name }} is not null
    and ({{ row_condition or 'true' }})
    and not (
        ({{ min_value is none }} or {{ column_name }} {{ '>' if strictly else '>=' }} {{ min_value or 0 }})
        and ({{ max_value is none }} or {{ column_name }} {{ '<' if strictly else '<=' }} {{ max_value or 0 }})
    )
{% if min_value is none and max_value is none %}
    {% do exceptions.raise_compiler_error("expect_column_values_to_be_between needs min_value or max_value") %}
{% endif %}
{% endtest %}
