{#- Fails on every partition value where the model and compare_model disagree: a different row
    count, a different number of distinct keys, or a different sum of any measure (measures[i]
    of the model against compare_measures[i] of compare_model; NULL sums count as 0). The
    partition value of each side is an expression (NULL is a partition of its own). -#}
{% test reconciles_per_partition(model, partition, key, compare_model, compare_partition, compare_key, measures=[], compare_measures=[]) %}
with model_per_partition as (  -- noqa: LT02 (the test tag opens the file)
    select
        {{ partition }} as partition_value,
        count(*) as row_count,
        count(distinct {{ key }}) as distinct_keys{{ reconcile_measure_sums(measures) }}
    from {{ model }}
    group by all
),

compare_per_partition as (
    select
        {{ compare_partition }} as partition_value,
        count(*) as row_count,
        count(distinct {{ compare_key }}) as distinct_keys{{ reconcile_measure_sums(compare_measures) }}
    from {{ compare_model }}
    group by all
)

select
    model_per_partition.row_count as model_rows,
    compare_per_partition.row_count as compare_rows,
    coalesce(model_per_partition.partition_value, compare_per_partition.partition_value)
        as partition_value
from model_per_partition
full outer join compare_per_partition
    on model_per_partition.partition_value is not distinct from compare_per_partition.partition_value
where
    model_per_partition.row_count is distinct from compare_per_partition.row_count
    or model_per_partition.distinct_keys is distinct from compare_per_partition.distinct_keys
    or {{ reconcile_measure_differences(measures) }}  -- noqa: LT02 (rendered measure comparisons)
{% if measures | length != compare_measures | length %}
    {% do exceptions.raise_compiler_error("reconciles_per_partition: measures and compare_measures differ in length") %}
{% endif %}
{% endtest %}
