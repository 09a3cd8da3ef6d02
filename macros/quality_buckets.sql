{#- The content quality buckets, rendered from the project var quality_buckets
    (dbt_project.yml), the one definition of the buckets and of high and low quality. -#}

{#- The buckets of the var, best first. sqlfluff's templater renders var() as the var's
    name: it gets two placeholder buckets, so the SQL it lints has the real shape. -#}
{% macro quality_bucket_list() -%}
    {%- set buckets = var('quality_buckets') -%}
    {%- if buckets is string -%}
        {%- set buckets = [
            {'rank': 1, 'label': 'high', 'min_score': 0.5, 'is_high_quality': true, 'is_low_quality': false},
            {'rank': 2, 'label': 'low', 'min_score': 0, 'is_high_quality': false, 'is_low_quality': true},
        ] -%}
    {%- endif -%}
    {{ return(buckets | sort(attribute='rank')) }}
{%- endmacro %}

{#- The rank (1 = best) of the bucket a score falls in: the first bucket whose min_score it
    reaches, else the last; NULL for a NULL score. -#}
{% macro quality_bucket_rank(score) -%}
    {%- set buckets = quality_bucket_list() -%}
    case
        when {{ score }} is null then null
    {%- for bucket in buckets[:-1] %}
        when {{ score }} >= {{ bucket.min_score }} then {{ bucket.rank }}
    {%- endfor %}
        else {{ buckets[-1].rank }}
    end
{%- endmacro %}

{#- The label of a bucket rank ('Excellent (0.9-1.0)' ...). -#}
{% macro quality_bucket_label(rank) -%}
    case {{ rank }}
    {%- for bucket in quality_bucket_list() %}
        when {{ bucket.rank }} then '{{ bucket.label }}'
    {%- endfor %}
    end
{%- endmacro %}

{#- Whether a score is high quality (falls in a bucket marked is_high_quality); false for
    NULL. -#}
{% macro is_high_quality(score) -%}
    coalesce({{ quality_bucket_rank(score) }} in ({{ quality_rank_list('is_high_quality') }}), false)
{%- endmacro %}

{#- Whether a score is low quality (falls in a bucket marked is_low_quality); false for
    NULL. -#}
{% macro is_low_quality(score) -%}
    coalesce({{ quality_bucket_rank(score) }} in ({{ quality_rank_list('is_low_quality') }}), false)
{%- endmacro %}

{#- The ranks of the buckets with `flag` set, comma-separated. -#}
{% macro quality_rank_list(flag) -%}
    {%- set ranks = [] -%}
    {%- for bucket in quality_bucket_list() if bucket[flag] -%}
        {%- do ranks.append(bucket.rank | string) -%}
    {%- endfor -%}
    {{ ranks | join(', ') }}
{%- endmacro %}
