{#- Fails (one row) when the model and compare_model have different row counts, after the
    optional row_condition / compare_row_condition filters. -#}
{% test expect_table_row_count_to_equal_other_table(model, compare_model, row_condition=none, compare_row_condition=none) %}
with model_rows as (
    select count(*) as row_count
    from {{ model }}
    where {{ row_condition or 'true' }}
),

compare_rows as (
    select count(*) as row_count
    from {{ compare_model }}
    where {{ compare_row_condition or 'true' }}
)

select
    model_rows.row_count as model_row_count,
    compare_rows.row_count as compare_row_count
from model_rows
cross join compare_rows
where model_rows.row_count != compare_rows.row_count
{% endtest %}
