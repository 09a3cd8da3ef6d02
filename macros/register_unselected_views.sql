{#- on-run-start: create the views of every view model that this invocation does not select,
    in dependency order, so that `dbt build --select marts` works from a fresh DuckDB file:
    the marts' unselected upstream staging and intermediate views resolve. A view is cheap
    (nothing is computed), so recreating it costs milliseconds. Each model's SQL is rendered
    with the same ref()/source() resolution a normal run uses. -#}
{% macro register_unselected_views() %}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set pending = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model'
            and node.config.materialized == 'view'
            and node.package_name == project_name
            and node.unique_id not in selected_resources -%}
            {%- do pending.append(node) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set pending_ids = pending | map(attribute='unique_id') | list -%}
    {%- set created = [] -%}
    {#- dependency order: a view is created once every pending view it refs exists -#}
    {%- for _ in range(pending | length) -%}
        {%- for node in pending -%}
            {%- if node.unique_id not in created -%}
                {%- set waiting_on = [] -%}
                {%- for parent in node.depends_on.nodes -%}
                    {%- if parent in pending_ids and parent not in created -%}
                        {%- do waiting_on.append(parent) -%}
                    {%- endif -%}
                {%- endfor -%}
                {%- if waiting_on | length == 0 -%}
                    {%- set relation = api.Relation.create(
                        database=node.database, schema=node.schema, identifier=node.alias) -%}
                    {%- do run_query('create schema if not exists ' ~ relation.without_identifier()) -%}
                    {%- do run_query('create or replace view ' ~ relation ~ ' as (\n' ~ render(node.raw_code) ~ '\n)') -%}
                    {%- do created.append(node.unique_id) -%}
                {%- endif -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if created | length > 0 -%}
        {{ log('registered ' ~ (created | length) ~ ' unselected upstream views', info=true) }}
    {%- endif -%}
{% endmacro %}
