{{ config(
    partition_by=[{'name': 'domain_category', 'data_type': 'varchar'}],
    unique_key=['domain', 'domain_category'],
    recompute={'column': 'domain', 'values': 'domains_changed_monthly', 'inline': true},
    order_by=['domain'],
) }}
{#- The analytics API's domain analysis over all archive months: one row per domain and domain
    category with the sums and counts of domain_archive_monthly over every month, and the first
    and last month the domain has records in. A request whose month range covers a domain's
    first to last month reads the domain's one row here instead of its monthly rows; most
    domains are archived thinly over many years, so a wide range reads a few thousand rows. -#}

with

domain_archive_monthly as (
    select * from {{ ref('domain_archive_monthly') }}
),

domain_archive_summary as (
    select
        -- strings
        cast(domain as varchar) as domain,  -- noqa: RF04
        cast(domain_category as varchar) as domain_category,

        -- numerics
        cast(count(*) as bigint) as active_months,
        cast(sum(record_count) as bigint) as record_count,
        cast(sum(scored_records) as bigint) as scored_records,
        cast(sum(quality_score_sum) as decimal(18, 3)) as quality_score_sum,
        cast(sum(sized_records) as bigint) as sized_records,
        cast(sum(content_length_sum) as bigint) as content_length_sum,
        cast(sum(high_value_count) as bigint) as high_value_count,
        cast(sum(timed_extractions) as bigint) as timed_extractions,
        cast(sum(extraction_time_ms_sum) as bigint) as extraction_time_ms_sum,

        -- dates
        cast(min(archive_month_start) as date) as first_archive_month,
        cast(max(archive_month_start) as date) as last_archive_month
    from domain_archive_monthly
    group by domain, domain_category
)

select * from domain_archive_summary
