{#- The three levels of project_analytics (project, domain, scrape session) as grouping sets
    of one aggregate over the pages: one pass, where a union of the pages once per level
    materialized three copies of them. -#}

{#- `group by` the levels, each with `keys` (the columns every level groups by besides its own
    ids); a page without a session has no session-level group. -#}
{% macro group_by_aggregation_levels(keys) -%}
    group by grouping sets (
        (project_id, {{ keys | join(', ') }}),
        (project_id, domain_id, {{ keys | join(', ') }}),
        (project_id, scrape_session_id, {{ keys | join(', ') }})
    )
    having grouping(scrape_session_id) = 1 or scrape_session_id is not null
{%- endmacro %}

{#- The level of a group of group_by_aggregation_levels: 'project', 'domain' or 'session'. -#}
{% macro aggregation_level() -%}
    case
        when grouping(domain_id) = 0 then 'domain'
        when grouping(scrape_session_id) = 0 then 'session'
        else 'project'
    end
{%- endmacro %}
