{#- The run-level hooks of the incremental_parquet materialization and its is_incremental()
    answer. None of them locks or changes the lake: they read snapshots only. -#}

{#- on-run-start: (re)create the view of every incremental_parquet model over its current
    snapshot, so that ref() to a model this run does not build resolves, also from a fresh
    DuckDB file, and a run reads one committed state of each upstream mart. A view already
    registered over the current snapshot with the same query (its comment says so:
    incremental_parquet__view_comment) is left as it is: in a sync's cycle, the models of
    the previous cycle registered them all. A lake laid out by another partition_by is not
    registered (its model needs --full-refresh). -#}
{% macro register_incremental_parquet_views() %}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set comments = {} -%}
    {%- for row in run_query('select database_name, schema_name, view_name, comment from duckdb_views()'
        ~ ' where not internal and comment is not null').rows -%}
        {%- do comments.update({(row[0] ~ '.' ~ row[1] ~ '.' ~ row[2]) | lower: row[3]}) -%}
    {%- endfor -%}
    {%- set registered = [] -%}
    {%- set schemas = [] -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.config.materialized == 'incremental_parquet' -%}
        {%- set current = incremental_parquet__call('snapshot', cfg=node.config, identifier=node.alias) -%}
        {%- if current is not none and not current.partition_matches -%}
            {{ log('incremental_parquet ' ~ node.alias ~ ': not registered, its lake is partitioned by '
                ~ (current.partition_by | map(attribute='name') | join(', ')) ~ ' (run the model with --full-refresh)', info=true) }}
        {%- elif current is not none -%}
            {%- set relation = api.Relation.create(
                database=node.database, schema=node.schema, identifier=node.alias, type='view') -%}
            {%- set view_sql = incremental_parquet__view_sql(current) -%}
            {%- set key = (node.database ~ '.' ~ node.schema ~ '.' ~ node.alias) | lower -%}
            {%- if comments.get(key) != incremental_parquet__view_comment(view_sql, current.version) -%}
                {{ create_schema_once(relation, schemas) }}
                {%- do run_query('create or replace view ' ~ relation ~ ' as ' ~ view_sql) -%}
                {%- do incremental_parquet__record_view(node.alias, current.version, relation, view_sql) -%}
                {%- do registered.append(node.alias) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if registered -%}
        {{ log('registered ' ~ (registered | length) ~ ' incremental_parquet views: ' ~ (registered | join(', ')), info=true) }}
    {%- endif -%}
    {%- do adapter.commit() -%}
    {{ return('') }}
{% endmacro %}

{#- on-run-end: release the lake locks a failed run of this process still holds (a run that
    failed between begin and commit), so that other processes can write. -#}
{% macro release_incremental_parquet_locks() %}
    {%- if execute -%}
        {%- set released = fromjson(run_query(
            "select chrono_lake('{\"op\": \"release_all\"}')").columns[0].values()[0]).result -%}
        {%- if released -%}
            {{ log('released ' ~ released ~ ' lake lock(s) left by a failed model', info=true) }}
        {%- endif -%}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}

{#- dbt's is_incremental() is true only for materialized='incremental'. For incremental_parquet
    models it is true when no full refresh is asked and the model has a committed snapshot
    (read without lock); every other model gets dbt's own answer. -#}
{% macro is_incremental() %}
    {%- if execute and model is defined and config.get('materialized') == 'incremental_parquet' -%}
        {{ return(not should_full_refresh() and incremental_parquet__call('snapshot') is not none) }}
    {%- endif -%}
    {#- outside dbt (sqlfluff renders the models with these macros) there is no dbt namespace -#}
    {{ return(dbt.is_incremental() if dbt is defined else false) }}
{% endmacro %}
