-- For every host with a registrable domain, subdomain + '.' + registered_domain is the host
-- and the registered domain is one label over the public suffix. Selects only the URL
-- columns, so the view ships no page body. Returns the hosts that break the rule.
with enriched_pages as (
    select
        domain,
        subdomain,
        registered_domain,
        public_suffix
    from {{ ref('int_scrape_pages_with_domain_parts') }}
)

select distinct
    domain,
    subdomain,
    registered_domain,
    public_suffix
from enriched_pages
where
    registered_domain is not null
    and (
        domain != coalesce(subdomain || '.', '') || registered_domain
        or registered_domain != split_part(registered_domain, '.', 1) || '.' || public_suffix
    )
