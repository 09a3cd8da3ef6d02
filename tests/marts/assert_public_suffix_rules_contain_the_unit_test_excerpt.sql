-- Every public suffix rule the unit tests of int_scrape_pages_with_domain_parts mock (the YAML
-- anchor public_suffix_excerpt) is a row of the committed seed, so the unit tests' excerpt
-- cannot drift from the real list. Returns the excerpt rows missing from the seed.
with unit_test_excerpt as (
    select
        excerpt.suffix,
        excerpt.is_rule,
        excerpt.is_wildcard_parent,
        excerpt.is_exception,
        excerpt.label_form
    from (
        values
        ('com', true, false, false, 'ascii'),
        ('net', true, false, false, 'ascii'),
        ('org', true, false, false, 'ascii'),
        ('gov', true, false, false, 'ascii'),
        ('edu', true, false, false, 'ascii'),
        ('mil', true, false, false, 'ascii'),
        ('de', true, false, false, 'ascii'),
        ('uk', true, false, false, 'ascii'),
        ('co.uk', true, false, false, 'ascii'),
        ('org.uk', true, false, false, 'ascii'),
        ('gov.uk', true, false, false, 'ascii'),
        ('ac.uk', true, false, false, 'ascii'),
        ('sch.uk', false, true, false, 'ascii'),
        ('au', true, false, false, 'ascii'),
        ('com.au', true, false, false, 'ascii'),
        ('edu.au', true, false, false, 'ascii'),
        ('gov.au', true, false, false, 'ascii'),
        ('nsw.edu.au', true, false, false, 'ascii'),
        ('cn', true, false, false, 'ascii'),
        ('公司.cn', true, false, false, 'unicode'),
        ('xn--55qx5d.cn', true, false, false, 'punycode'),
        ('ck', false, true, false, 'ascii'),
        ('www.ck', false, false, true, 'ascii'),
        ('jp', true, false, false, 'ascii'),
        ('kawasaki.jp', false, true, false, 'ascii'),
        ('city.kawasaki.jp', false, false, true, 'ascii'),
        ('us', true, false, false, 'ascii'),
        ('ma.us', true, false, false, 'ascii'),
        ('k12.ma.us', true, false, false, 'ascii'),
        ('pvt.k12.ma.us', true, false, false, 'ascii')
    ) as excerpt (suffix, is_rule, is_wildcard_parent, is_exception, label_form)
),

public_suffix_rules as (
    select * from {{ ref('public_suffix_rules') }}
)

select unit_test_excerpt.*
from unit_test_excerpt
left join public_suffix_rules
    on
        unit_test_excerpt.suffix = public_suffix_rules.suffix
        and unit_test_excerpt.is_rule = public_suffix_rules.is_rule
        and unit_test_excerpt.is_wildcard_parent = public_suffix_rules.is_wildcard_parent
        and unit_test_excerpt.is_exception = public_suffix_rules.is_exception
        and unit_test_excerpt.label_form = public_suffix_rules.label_form
where public_suffix_rules.suffix is null
