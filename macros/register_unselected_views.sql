{#- on-run-start: make every relation this invocation does not build, but may read, exist in
    the DuckDB file, so that `dbt build --select marts` works from a fresh file:
    - seeds are loaded from their CSV files (a few thousand rows: milliseconds); a stored seed
      table whose columns differ from its CSV (left by an older version) is dropped first;
    - view models are (re)created in dependency order. A view computes nothing, so this is
      cheap. Its SQL is the model's own, rendered here with dbt's Jinja: source() and macros
      render as in a normal run, and ref() resolves through the graph (the project's ref()
      override below), since dbt's own ref() refuses, inside a hook, a model the hook does not
      depend on. A view that reads a source the plugin could not attach (the source
      PostgreSQL is down) is left as it is: nothing this run builds reads it, or
      require_source() would have stopped the run.
    Models materialized as Parquet register their views through
    register_incremental_parquet_views(). -#}
{% macro register_unselected_views() %}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set relation_of = {} -%}
    {%- for node in graph.nodes.values() if node.resource_type in ('model', 'seed') -%}
        {%- do relation_of.update({node.name: api.Relation.create(
            database=node.database, schema=node.schema, identifier=node.alias)}) -%}
    {%- endfor -%}

    {%- set seeds_loaded = [] -%}
    {#- each schema is created once: every statement costs dbt about 10 ms of its own -#}
    {%- set schemas = [] -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'seed' and node.package_name == project_name -%}
        {%- set relation = relation_of[node.name] -%}
        {%- set type_pairs = [] -%}
        {%- for column, data_type in (node.config.column_types or {}).items() -%}
            {%- do type_pairs.append("'" ~ column ~ "': '" ~ data_type ~ "'") -%}
        {%- endfor -%}
        {#- under the project folder of this invocation, as dbt's own seed loading does: the
            node's root_path is the folder of the parse that created it, which dbt's saved
            parse (partial_parse.msgpack) carries over to a copy of the project in another
            folder (a deploy that keeps the target folder, the sync's CHRONO_HOME) -#}
        {%- set project_dir = invocation_args_dict.get('project_dir') or node.root_path -%}
        {%- set csv_path = project_dir ~ '/' ~ node.original_file_path -%}
        {%- set read_csv = "read_csv(" ~ incremental_parquet__literal(csv_path) ~ ", header = true"
            ~ (', types = {' ~ type_pairs | join(', ') ~ '}' if type_pairs else '') ~ ')' -%}
        {#- a seed table left by an older version of the project (other columns than its CSV
            now has) is dropped: views bound to it would fail, and dbt's seed reload would
            insert the new columns into the old table -#}
        {%- set existing = load_relation(relation) -%}
        {%- if existing is not none -%}
            {%- set stored = adapter.get_columns_in_relation(existing) | map(attribute='name') | map('lower') | list -%}
            {%- set wanted = run_query('select * from ' ~ read_csv ~ ' limit 0').column_names | map('lower') | list -%}
            {%- if stored != wanted -%}
                {{ log('seed ' ~ node.name ~ ': the stored table has other columns than the CSV; dropped', info=true) }}
                {%- do adapter.drop_relation(existing) -%}
                {#- committed now: the seed threads of this run must not find the old table -#}
                {%- do adapter.commit() -%}
                {%- set existing = none -%}
            {%- endif -%}
        {%- endif -%}
        {%- if node.unique_id not in selected_resources and existing is none -%}
            {{ create_schema_once(relation, schemas) }}
            {%- do run_query('create table if not exists ' ~ relation ~ ' as select * from ' ~ read_csv) -%}
            {%- do seeds_loaded.append(node.name) -%}
        {%- endif -%}
    {%- endfor -%}

    {%- set missing_sources = unattached_source_databases() -%}
    {%- set unreadable = source_readers(missing_sources) if missing_sources else [] -%}
    {%- set pending = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model'
            and node.config.materialized == 'view'
            and node.package_name == project_name
            and node.unique_id not in selected_resources
            and node.unique_id not in unreadable -%}
            {%- do pending.append(node) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set pending_ids = pending | map(attribute='unique_id') | list -%}
    {%- set created = [] -%}
    {%- set skipped = [] -%}
    {%- for _ in range(pending | length) -%}
        {%- for node in pending if node.unique_id not in created and node.unique_id not in skipped -%}
            {%- set waiting_on = [] -%}
            {%- for parent in node.depends_on.nodes if parent in pending_ids and parent not in created and parent not in skipped -%}
                {%- do waiting_on.append(parent) -%}
            {%- endfor -%}
            {#- a parent this run builds but that does not exist yet (a selected seed in a
                fresh file): the view cannot be bound now; skip it, nothing selected reads it
                before the parent is built -#}
            {%- set unbuilt_parents = [] -%}
            {%- for parent in node.depends_on.nodes if parent in selected_resources -%}
                {%- set parent_node = graph.nodes.get(parent) -%}
                {%- if parent_node and load_relation(relation_of[parent_node.name]) is none -%}
                    {%- do unbuilt_parents.append(parent) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- if unbuilt_parents -%}
                {%- do skipped.append(node.unique_id) -%}
                {{ log('not registering ' ~ node.name ~ ': ' ~ unbuilt_parents | join(', ') ~ ' not built yet', info=true) }}
            {%- elif waiting_on | length == 0 -%}
                {%- set relation = relation_of[node.name] -%}
                {{ create_schema_once(relation, schemas) }}
                {#- rendered as dbt renders the model, its ref()s resolved by the project's ref()
                    override below (in a hook, dbt's own ref refuses models the hook does not
                    depend on) -#}
                {%- do run_query('create or replace view ' ~ relation ~ ' as (\n' ~ render(node.raw_code) ~ '\n)') -%}
                {%- do created.append(node.unique_id) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if created or seeds_loaded -%}
        {{ log('registered ' ~ (seeds_loaded | length) ~ ' seeds and ' ~ (created | length)
            ~ ' views this run does not build', info=true) }}
    {%- endif -%}
    {#- committed now: the models run on other connections, which see committed objects only -#}
    {%- do adapter.commit() -%}
{% endmacro %}

{#- The project's ref(): dbt's own everywhere, except inside an operation (an on-run-start hook,
    a run-operation), where it resolves a model, seed or snapshot through the graph: by name,
    optionally by package (two arguments) and version (v= or version=; else the latest), as
    dbt's ref() does, without requiring the operation to depend on it. -#}
{% macro ref() %}
    {%- if execute and model is defined and model.resource_type == 'operation' -%}
        {%- set package = varargs[0] if varargs | length == 2 else none -%}
        {%- set name = varargs[-1] -%}
        {%- set version = kwargs.get('version', kwargs.get('v')) -%}
        {%- set found = [] -%}
        {%- for node in graph.nodes.values()
            if node.resource_type in ('model', 'seed', 'snapshot') and node.name == name
            and (package is none or node.package_name == package) -%}
            {%- set wanted = version if version is not none else node.get('latest_version') -%}
            {%- if wanted is none or (node.get('version') | string) == (wanted | string) -%}
                {%- do found.append(node) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if found | length != 1 -%}
            {{ exceptions.raise_compiler_error('ref(' ~ (varargs | join(', ')) ~ '): ' ~ (found | length)
                ~ ' nodes of the graph match (expected one)') }}
        {%- endif -%}
        {{ return(api.Relation.create(database=found[0].database, schema=found[0].schema, identifier=found[0].alias)) }}
    {%- endif -%}
    {#- outside dbt (sqlfluff renders the models with these macros) there is no builtins -#}
    {{ return(builtins.ref(*varargs, **kwargs) if builtins is defined else varargs[-1]) }}
{% endmacro %}


{#- `create schema if not exists` for the schema of `relation`, unless `created` (a list this
    macro keeps) holds it already. -#}
{% macro create_schema_once(relation, created) %}
    {%- set schema = relation.without_identifier() | string -%}
    {%- if schema not in created -%}
        {%- do run_query('create schema if not exists ' ~ schema) -%}
        {%- do created.append(schema) -%}
    {%- endif -%}
{% endmacro %}
