-- int_scrape_pages_with_domain_parts looks up a host's last 1 .. public_suffix_lookup_depth()
-- labels.
-- That finds every rule of the seed only while no normal or exception rule has more labels
-- than the depth and no wildcard parent has as many (a wildcard adds a label). Returns the
-- rules a newer Public Suffix List would need a deeper lookup for.
{%- set depth = public_suffix_lookup_depth() | int %}
with public_suffix_rules as (
    select * from {{ ref('public_suffix_rules') }}
)

select
    suffix,
    is_rule,
    is_wildcard_parent,
    is_exception,
    len(string_split(suffix, '.')) as label_count
from public_suffix_rules
where
    ((is_rule or is_exception) and len(string_split(suffix, '.')) > {{ depth }})
    or (is_wildcard_parent and len(string_split(suffix, '.')) >= {{ depth }})
