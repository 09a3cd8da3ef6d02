{#- ", coalesce(sum(m1), 0) as measure_1, ..." for the select lists of the generic test
    reconciles_per_partition (tests/generic). -#}
{% macro reconcile_measure_sums(measures) -%}
    {%- for measure in measures -%}
        , coalesce(sum({{ measure }}), 0) as measure_{{ loop.index }}
    {%- endfor -%}
{%- endmacro %}

{#- " or model_per_partition.measure_i is distinct from compare_per_partition.measure_i ..." -#}
{% macro reconcile_measure_differences(measures) -%}
    {%- for _ in measures -%}
        {{ ' or ' if not loop.first }}model_per_partition.measure_{{ loop.index }} is distinct from compare_per_partition.measure_{{ loop.index }}
    {%- endfor -%}
{%- endmacro %}
