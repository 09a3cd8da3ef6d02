{#- on-run-start, first: stop a run whose selection reads the source PostgreSQL when the
    project's plugin could not attach it, with the plugin's one line (which server, why, how to
    start it). A run that does not read it (the reporting models, which read the marts' Parquet
    files; seeds) goes on. A node reads the source when it selects from it, or from a model
    that is not stored in the lake (a view) and reads it; a unit test reads what its model
    reads (dbt asks the inputs for their columns). -#}
{% macro require_source() %}
    {%- if not execute or flags.WHICH in ('compile', 'generate') -%}
        {{ return('') }}
    {%- endif -%}
    {%- set missing = unattached_source_databases() -%}
    {%- if not missing -%}
        {{ return('') }}
    {%- endif -%}
    {%- set readers = source_readers(missing) -%}
    {%- set needed = [] -%}
    {%- for unique_id in selected_resources -%}
        {%- set parts = unique_id.split('.') -%}
        {#- a unit test (not in the graph) reads what its model reads -#}
        {%- set reader = 'model.' ~ parts[1] ~ '.' ~ parts[2] if parts[0] == 'unit_test' else unique_id -%}
        {%- if reader in readers -%}
            {%- do needed.append(unique_id) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if needed -%}
        {%- set problem = run_query('select chrono_source_problem()').columns[0].values()[0] -%}
        {{ exceptions.raise_database_error(problem or ('not attached: ' ~ missing | join(', '))) }}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}

{#- The databases the project's sources name that this connection has not attached (the
    source PostgreSQL when the plugin could not reach it). -#}
{% macro unattached_source_databases() %}
    {%- set attached = run_query('select database_name from duckdb_databases()').columns[0].values() -%}
    {%- set missing = [] -%}
    {%- for source in graph.sources.values() if source.package_name == project_name
            and source.database not in attached and source.database not in missing -%}
        {%- do missing.append(source.database) -%}
    {%- endfor -%}
    {{ return(missing) }}
{% endmacro %}

{#- The unique ids of the source tables in `databases` and of every node (model, test) that
    reads one: directly, or through models that are not stored in the lake. -#}
{% macro source_readers(databases) %}
    {%- set readers = [] -%}
    {%- for unique_id in graph.sources if graph.sources[unique_id].database in databases -%}
        {%- do readers.append(unique_id) -%}
    {%- endfor -%}
    {#- a node reads the source when a parent is a source table, or a model that reads it and
        is not stored in the lake; one pass a level of the graph -#}
    {%- set state = namespace(growing=true) -%}
    {%- for _ in range(graph.nodes | length) if state.growing -%}
        {%- set before = readers | length -%}
        {%- for node in graph.nodes.values() if node.resource_type in ('model', 'test', 'snapshot')
                and node.unique_id not in readers -%}
            {%- for parent in node.depends_on.nodes if parent in readers
                    and (parent in graph.sources or graph.nodes[parent].config.materialized != 'incremental_parquet') -%}
                {%- if node.unique_id not in readers -%}
                    {%- do readers.append(node.unique_id) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- set state.growing = (readers | length) > before -%}
    {%- endfor -%}
    {{ return(readers) }}
{% endmacro %}
