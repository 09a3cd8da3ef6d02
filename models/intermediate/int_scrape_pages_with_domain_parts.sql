{#- One row per scrape page: every column of int_scrape_pages_enriched, plus its host taken
    apart by the Public Suffix List (public suffix, registrable domain, subdomain, TLD) and the
    domain category read from the public suffix. Each derivation is a macro or a seed lookup
    and lives here only.

    A view of its own, not columns of int_scrape_pages_enriched: the lookups cost five joins
    per page (four candidate suffixes against public_suffix_rules, then
    domain_category_suffixes) plus the label lists they join on, and only cdx_records selects
    what they give. DuckDB keeps a left join even when no column of it is selected, so
    content_analytics, which reads int_scrape_pages_enriched, would pay for them on every
    page it builds (a full build at 1M pages: about 7 s shorter without them, bench/README.md).
    An incremental run filters this view on scrape_page_id like the one below it, and DuckDB
    pushes the filter through the joins down to PostgreSQL (test_marts_incremental.py holds
    that). -#}
with

enriched_pages as (
    select * from {{ ref('int_scrape_pages_enriched') }}
),

domain_category_suffixes as (
    select * from {{ ref('domain_category_suffixes') }}
),

host_suffix_candidates as (
    select
        *,
        len(host_labels) as host_label_count,
        {{ last_labels('host_labels', 1) }} as host_suffix_1,
        {{ last_labels('host_labels', 2) }} as host_suffix_2,
        {{ last_labels('host_labels', 3) }} as host_suffix_3,
        {{ last_labels('host_labels', 4) }} as host_suffix_4
    from (
        select
            *,
            {{ host_labels('domain') }} as host_labels
        from enriched_pages
    ) as pages_with_host_labels
),

-- one lookup per candidate length, 1 .. public_suffix_lookup_depth() = 4
public_suffix_matches as (
    select
        host_suffix_candidates.*,
        case
            when host_suffix_candidates.host_labels is not null
                then {{ public_suffix_label_count('host_suffix_candidates.host_label_count', 'suffix_match_') }}
        end as public_suffix_label_count
    from host_suffix_candidates
    left join {{ ref('public_suffix_rules') }} as suffix_match_1
        on host_suffix_candidates.host_suffix_1 = suffix_match_1.suffix
    left join {{ ref('public_suffix_rules') }} as suffix_match_2
        on host_suffix_candidates.host_suffix_2 = suffix_match_2.suffix
    left join {{ ref('public_suffix_rules') }} as suffix_match_3
        on host_suffix_candidates.host_suffix_3 = suffix_match_3.suffix
    left join {{ ref('public_suffix_rules') }} as suffix_match_4
        on host_suffix_candidates.host_suffix_4 = suffix_match_4.suffix
),

domain_parts as (
    select
        *,
        {{ last_labels('host_labels', 'public_suffix_label_count') }} as public_suffix,
        {{ registered_domain('host_labels', 'host_label_count', 'public_suffix_label_count') }}
            as registered_domain,
        {{ subdomain('host_labels', 'host_label_count', 'public_suffix_label_count') }} as subdomain,
        host_labels[-1] as domain_tld
    from public_suffix_matches
),

domain_categories as (
    select
        domain_parts.*,
        domain_category_suffixes.domain_category as matched_domain_category
    from domain_parts
    left join domain_category_suffixes
        on {{ domain_category_key('domain_parts.public_suffix') }} = domain_category_suffixes.suffix_pattern
),

-- every column of int_scrape_pages_enriched (listed in its yml) and the new ones: the
-- helper columns of the lookups are dropped by name
with_domain_parts as (
    select
        * exclude (
            host_labels,
            host_label_count,
            host_suffix_1,
            host_suffix_2,
            host_suffix_3,
            host_suffix_4,
            public_suffix_label_count,
            matched_domain_category
        ),
        {{ domain_category('matched_domain_category', 'domain') }} as domain_category,
        coalesce(matched_domain_category = 'government', false) as is_government_domain,
        coalesce(matched_domain_category = 'educational', false) as is_educational_domain,
        coalesce(matched_domain_category = 'nonprofit', false) as is_nonprofit_domain
    from domain_categories
)

select * from with_domain_parts  -- noqa: AM04
