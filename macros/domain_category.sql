{#- Domain category from the host's public suffix (never from the rest of the URL: shop.com/x.gov.html is commercial). The seed
    domain_category_suffixes maps
    patterns to categories: 'gov', 'mil', 'gov.<cc>' government; 'edu', 'edu.<cc>', 'ac.<cc>'
    educational; 'org', 'org.<cc>' nonprofit; any other suffix is commercial. -#}

{#- The pattern a public suffix is looked up by: a one-label suffix as it is ('gov');
    under a two-letter country code, the label left of the code with '<cc>' ('gov.uk' ->
    'gov.<cc>', 'nsw.gov.au' -> 'gov.<cc>', 'co.uk' -> 'co.<cc>'); otherwise the suffix
    itself. NULL when the suffix is NULL. -#}
{% macro domain_category_key(public_suffix) -%}
    case
        when
            strpos({{ public_suffix }}, '.') > 0
            and regexp_full_match(split_part({{ public_suffix }}, '.', -1), '[a-z]{2}')
            then split_part({{ public_suffix }}, '.', -2) || '.<cc>'
        else {{ public_suffix }}
    end
{%- endmacro %}

{#- The category: the seed domain_category_suffixes' match, else 'commercial' for any host; NULL when the URL has no
    host. -#}
{% macro domain_category(matched_category, host) -%}
    case when {{ host }} is not null then coalesce({{ matched_category }}, 'commercial') end
{%- endmacro %}
