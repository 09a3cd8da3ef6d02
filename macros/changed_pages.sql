{#- Which pages an incremental run of a page mart (cdx_records, content_analytics,
    project_analytics) must recompute: the pages updated since the mart's watermark, and every
    page of a domain whose own row or whose project's row was updated since then (a domain
    moved to another project, a project's archive_source or name changed: values the marts
    copy onto each page). The changed domains are listed when the model is compiled (two
    small tables); when there are none, the filter is the page's updated_at alone, which
    reaches PostgreSQL's updated_at index. With changed domains, the pages of those domains
    are added (a condition DuckDB may evaluate after reading the pages). -#}
{% macro changed_pages_condition(watermark) %}
    {%- set domain_ids = [] -%}
    {%- if execute -%}
        {#- the staged tables by name from the graph, not ref(): a ref() here would be a
            dependency that every unit test of the calling models must mock; the models depend
            on them anyway, through int_scrape_pages_enriched -#}
        {%- set staged = {} -%}
        {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.name in ('stg_chrono__domains', 'stg_chrono__projects') -%}
            {%- do staged.update({node.name: api.Relation.create(
                database=node.database, schema=node.schema, identifier=node.alias)}) -%}
        {%- endfor -%}
        {%- set changed = run_query(
            'select distinct domains.domain_id from ' ~ staged['stg_chrono__domains'] ~ ' as domains'
            ~ ' inner join ' ~ staged['stg_chrono__projects'] ~ ' as projects using (project_id)'
            ~ ' where domains.updated_at > ' ~ watermark ~ ' or projects.updated_at > ' ~ watermark
            ~ ' order by 1') -%}
        {%- for value in changed.columns[0].values() -%}
            {%- do domain_ids.append(value | int) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if domain_ids | length == 0 -%}
        {{ return('updated_at > ' ~ watermark) }}
    {%- endif -%}
    {{ return('(updated_at > ' ~ watermark ~ ' or domain_id in (' ~ (domain_ids | join(', ')) ~ '))') }}
{% endmacro %}

{#- The query of the enriched pages a page mart (cdx_records, content_analytics) builds in this
    run: all of them, or in an incremental run the changed ones (changed_pages_condition). -#}
{% macro pages_to_build() %}
    {%- set pages = 'select * from ' ~ ref('int_scrape_pages_enriched') -%}
    {%- if is_incremental() -%}
        {%- set pages = pages ~ ' where ' ~ changed_pages_condition(incremental_watermark()) -%}
    {%- endif -%}
    {{ return(pages) }}
{% endmacro %}
