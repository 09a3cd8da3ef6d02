{#- Fails on every combination of column_list that occurs more than once. -#}
{% test expect_compound_columns_to_be_unique(model, column_list, row_condition=none) %}
select
    {{ column_list | join(', ') }},
    count(*) as occurrences
from {{ model }}
where {{ row_condition or 'true' }}
group by {{ column_list | join(', ') }}
having count(*) > 1
{% endtest %}
