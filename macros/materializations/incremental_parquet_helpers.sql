{#- Helpers of the incremental_parquet materialization (incremental_parquet.sql): its settings,
    the read expression of the lake, the lake's inventory, the plugin's file operations,
    is_incremental(), incremental_watermark() and the on-run-start view registration.
    Arguments are documented in macros/_macros.yml. -#}

{#- A double-quoted DuckDB identifier. -#}
{% macro incremental_parquet__quote(name) -%}
    "{{ name | replace('"', '""') }}"
{%- endmacro %}

{#- A single-quoted DuckDB string literal. -#}
{% macro incremental_parquet__literal(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{#- Column names, quoted and comma-separated; `prefix` qualifies each (e.g. 'd.'). -#}
{% macro incremental_parquet__columns(names, prefix='') -%}
    {%- for name in names -%}
        {{ prefix }}{{ incremental_parquet__quote(name) }}{{ ', ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{#- `left.k1 = right.k1 and ...` over the key columns. -#}
{% macro incremental_parquet__key_join(keys, left, right) -%}
    {%- for key in keys -%}
        {{ left }}.{{ incremental_parquet__quote(key) }} = {{ right }}.{{ incremental_parquet__quote(key) }}
        {{- ' and ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{#- The resolved configuration of one incremental_parquet model, from its config (the `config`
    object inside a model, or node.config from the graph) and its relation identifier. Fails with
    a message naming the setting when one is invalid. -#}
{% macro incremental_parquet_settings(cfg, identifier) %}
    {%- set re = modules.re -%}
    {%- set model_name = identifier -%}

    {#- location: where the partition folders live; staging sits beside it on the same
        filesystem so that renames are atomic -#}
    {%- set location = (cfg.get('location') or (adapter.external_root() ~ '/' ~ identifier)) | string -%}
    {%- set location = location.rstrip('/') -%}
    {%- if location == '' or '*' in location or '?' in location or '[' in location -%}
        {{ exceptions.raise_compiler_error(
            "incremental_parquet " ~ model_name ~ ": location '" ~ location
            ~ "' must be a folder path without glob characters") }}
    {%- endif -%}
    {%- if '/' in location -%}
        {%- set parent, leaf = location.rsplit('/', 1) -%}
        {%- set parent = parent if parent != '' else '/' -%}
    {%- else -%}
        {%- set parent, leaf = '.', location -%}
    {%- endif -%}
    {%- set staging_root = parent.rstrip('/') ~ '/_staging/' ~ leaf -%}

    {#- partition_by: a list of {'name': column, 'data_type': DuckDB type}; an entry with an
        'expression' (SQL over the model's columns) adds a partition column that the model does
        not have: it exists in the folder names only, and the model's view hides it -#}
    {%- set raw_partitions = cfg.get('partition_by') -%}
    {%- if raw_partitions is mapping -%}
        {%- set raw_partitions = [raw_partitions] -%}
    {%- endif -%}
    {%- if raw_partitions is none or raw_partitions is string or raw_partitions | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "incremental_parquet " ~ model_name ~ ": partition_by must be a non-empty list of "
            ~ "{'name': <column>, 'data_type': <DuckDB type>}, e.g. "
            ~ "partition_by=[{'name': 'archive_year', 'data_type': 'integer'}]") }}
    {%- endif -%}
    {%- set partition_names = [] -%}
    {%- set partition_types = {} -%}
    {%- set partition_expressions = {} -%}
    {%- for item in raw_partitions -%}
        {%- if item is not mapping or not item.get('name') or not item.get('data_type') -%}
            {{ exceptions.raise_compiler_error(
                "incremental_parquet " ~ model_name ~ ": partition_by entry " ~ item
                ~ " needs a name and a data_type, e.g. {'name': 'archive_year', 'data_type': 'integer'}") }}
        {%- endif -%}
        {%- set data_type = item['data_type'] | string | trim -%}
        {%- if not re.fullmatch('[A-Za-z][A-Za-z0-9_ ]*(\\([0-9, ]*\\))?', data_type) -%}
            {{ exceptions.raise_compiler_error(
                "incremental_parquet " ~ model_name ~ ": data_type '" ~ data_type
                ~ "' of partition column " ~ item['name'] ~ " is not a DuckDB type name") }}
        {%- endif -%}
        {%- do partition_names.append(item['name'] | string) -%}
        {%- do partition_types.update({item['name'] | string: data_type}) -%}
        {%- if item.get('expression') -%}
            {%- do partition_expressions.update({item['name'] | string: item['expression'] | string}) -%}
        {%- endif -%}
    {%- endfor -%}

    {#- unique_key: one column or a list -#}
    {%- set unique_key = cfg.get('unique_key') -%}
    {%- if unique_key is string -%}
        {%- set unique_key = [unique_key] -%}
    {%- endif -%}
    {%- if unique_key is none or unique_key | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "incremental_parquet " ~ model_name ~ ": unique_key (a column or a list of columns) is required") }}
    {%- endif -%}

    {#- order_by: sort order inside each file; the unique key breaks ties -#}
    {%- set order_by = cfg.get('order_by') or unique_key -%}
    {%- if order_by is string -%}
        {%- set order_by = [order_by] -%}
    {%- endif -%}
    {%- set order_by = order_by | list -%}
    {%- for key in unique_key if key not in order_by -%}
        {%- do order_by.append(key) -%}
    {%- endfor -%}

    {#- lookback in hours: --vars lookback_hours, else the model's lookback, else the project's
        var lookback_hours, else 1 -#}
    {%- set cli_vars = invocation_args_dict.get('vars') or {} -%}
    {%- if cli_vars is string -%}
        {%- set cli_vars = fromyaml(cli_vars) or {} -%}
    {%- endif -%}
    {%- if cli_vars is mapping and 'lookback_hours' in cli_vars -%}
        {%- set lookback_hours = cli_vars['lookback_hours'] -%}
    {%- elif cfg.get('lookback') is not none -%}
        {%- set lookback_hours = cfg.get('lookback') -%}
    {%- else -%}
        {%- set lookback_hours = var('lookback_hours', 1) -%}
    {%- endif -%}
    {%- if lookback_hours is string or lookback_hours is not number or lookback_hours < 0 -%}
        {{ exceptions.raise_compiler_error(
            "incremental_parquet " ~ model_name ~ ": lookback must be a number of hours >= 0, got "
            ~ lookback_hours) }}
    {%- endif -%}

    {#- deletions, in incremental runs (a full refresh rebuilds from the model's rows anyway):
        delete_missing_from = {'model': <model name>, 'columns': [<its columns holding the
        unique key, in unique_key's order>]}: a stored row whose key that model no longer holds
        is deleted. complete_within = [<columns>] or {'columns': [<columns>], 'values_from':
        {'model': <model name>, 'columns': [<its columns, in the same order>]}}: the delta
        holds every row of each value (of these columns) it holds, so a stored row with such a
        value that the delta lacks is deleted; with values_from, so is a stored row whose value
        that model no longer holds at all. -#}
    {%- set delete_missing_from = cfg.get('delete_missing_from') -%}
    {%- if delete_missing_from is not none -%}
        {%- set from_columns = delete_missing_from.get('columns') if delete_missing_from is mapping else none -%}
        {%- set from_columns = [from_columns] if from_columns is string else from_columns -%}
        {%- if delete_missing_from is not mapping or not delete_missing_from.get('model')
            or from_columns is none or (from_columns | length) != (unique_key | length) -%}
            {{ exceptions.raise_compiler_error(
                "incremental_parquet " ~ model_name ~ ": delete_missing_from must be {'model': <model name>, "
                ~ "'columns': [<one column per unique_key column: " ~ (unique_key | join(', ')) ~ ">]}, got "
                ~ delete_missing_from) }}
        {%- endif -%}
        {%- set delete_missing_from = {'model': delete_missing_from['model'] | string, 'columns': from_columns | list} -%}
    {%- endif -%}
    {%- set raw_within = cfg.get('complete_within') or [] -%}
    {%- set raw_within = {'columns': raw_within} if raw_within is not mapping else raw_within -%}
    {%- set within_columns = raw_within.get('columns') or [] -%}
    {%- set within_columns = [within_columns] if within_columns is string else within_columns | list -%}
    {%- set values_from = raw_within.get('values_from') -%}
    {%- if values_from is not none -%}
        {%- set from_columns = values_from.get('columns') if values_from is mapping else none -%}
        {%- set from_columns = [from_columns] if from_columns is string else from_columns -%}
        {%- if values_from is not mapping or not values_from.get('model') or from_columns is none
            or (from_columns | length) != (within_columns | length) or within_columns | length == 0 -%}
            {{ exceptions.raise_compiler_error(
                "incremental_parquet " ~ model_name ~ ": complete_within's values_from must be {'model': "
                ~ "<model name>, 'columns': [<one column per complete_within column>]}, got " ~ raw_within) }}
        {%- endif -%}
        {%- set values_from = {'model': values_from['model'] | string, 'columns': from_columns | list} -%}
    {%- endif -%}
    {%- set complete_within = {'columns': within_columns, 'values_from': values_from} if within_columns else none -%}

    {%- set on_schema_change = cfg.get('on_schema_change') or 'fail' -%}
    {%- set on_schema_change = 'fail' if on_schema_change == 'ignore' else on_schema_change -%}
    {%- if on_schema_change not in ('fail', 'append_new_columns') -%}
        {{ exceptions.raise_compiler_error(
            "incremental_parquet " ~ model_name ~ ": on_schema_change must be 'fail' or "
            ~ "'append_new_columns', got '" ~ on_schema_change ~ "'") }}
    {%- endif -%}

    {%- set compression = (cfg.get('compression') or 'zstd') | lower -%}
    {%- if compression not in ('zstd', 'snappy', 'gzip', 'lz4', 'lz4_raw', 'brotli', 'uncompressed') -%}
        {{ exceptions.raise_compiler_error(
            "incremental_parquet " ~ model_name ~ ": unknown compression '" ~ compression ~ "'") }}
    {%- endif -%}
    {%- set write_options = ['format parquet', 'compression ' ~ compression] -%}
    {%- if cfg.get('compression_level') is not none -%}
        {%- do write_options.append('compression_level ' ~ (cfg.get('compression_level') | int)) -%}
    {%- endif -%}
    {%- if cfg.get('row_group_size') is not none -%}
        {%- if (cfg.get('row_group_size') | int) < 1 -%}
            {{ exceptions.raise_compiler_error(
                "incremental_parquet " ~ model_name ~ ": row_group_size must be a positive integer") }}
        {%- endif -%}
        {%- do write_options.append('row_group_size ' ~ (cfg.get('row_group_size') | int)) -%}
    {%- endif -%}

    {%- set grace = cfg.get('swap_grace_seconds') -%}
    {%- set grace = 1.0 if grace is none else grace | float -%}
    {%- set swap_lock_timeout = cfg.get('swap_lock_timeout_seconds') -%}
    {%- set swap_lock_timeout = 300.0 if swap_lock_timeout is none else swap_lock_timeout | float -%}

    {%- set hive_types = [] -%}
    {%- for name in partition_names -%}
        {%- do hive_types.append(incremental_parquet__literal(name) ~ ': ' ~ partition_types[name]) -%}
    {%- endfor -%}

    {{ return({
        'model_name': model_name,
        'location': location,
        'staging_root': staging_root,
        'glob': location ~ '/' ~ ('*/' * (partition_names | length)) ~ 'data_0.parquet',
        'depth': partition_names | length,
        'partition_names': partition_names,
        'partition_types': partition_types,
        'partition_expressions': partition_expressions,
        'hive_types': '{' ~ (hive_types | join(', ')) ~ '}',
        'unique_key': unique_key | list,
        'watermark_column': cfg.get('watermark_column') or 'updated_at',
        'lookback_seconds': (lookback_hours * 3600) | round | int,
        'order_by': order_by,
        'delete_missing_from': delete_missing_from,
        'complete_within': complete_within,
        'on_schema_change': on_schema_change,
        'write_options': write_options | join(', '),
        'grace_seconds': grace,
        'swap_lock_timeout_seconds': swap_lock_timeout,
        'plugin': cfg.get('lake_plugin') or 'chrono',
    }) }}
{% endmacro %}

{#- read_parquet over `files` (a glob or a list of paths, as SQL) with the partition columns typed
    as declared; extra options (e.g. "filename = '__f'") are appended. -#}
{% macro incremental_parquet__read(settings, files=none, extra=none) -%}
    read_parquet(
        {{ files if files is not none else incremental_parquet__literal(settings.glob) }},
        hive_partitioning = true,
        hive_types = {{ settings.hive_types }},
        union_by_name = true{{ ', ' ~ extra if extra }}
    )
{%- endmacro %}

{#- The query of the model's view: every column of the files and the partition folders, except
    the partition columns computed by an expression (they are not the model's columns). -#}
{% macro incremental_parquet__view_query(settings) %}
    {%- set hidden = settings.partition_expressions.keys() | list -%}
    {%- set excluded = ' exclude (' ~ incremental_parquet__columns(hidden) ~ ')' if hidden else '' -%}
    {{ return('select *' ~ excluded ~ ' from ' ~ incremental_parquet__read(settings)) }}
{% endmacro %}

{#- The model's rows plus the partition columns computed by an expression. -#}
{% macro incremental_parquet__model_rows(settings, sql) %}
    {%- if not settings.partition_expressions -%}
        {{ return(sql) }}
    {%- endif -%}
    {%- set computed = [] -%}
    {%- for name, expression in settings.partition_expressions.items() -%}
        {%- do computed.append('cast(' ~ expression ~ ' as ' ~ settings.partition_types[name] ~ ') as '
            ~ incremental_parquet__quote(name)) -%}
    {%- endfor -%}
    {{ return('select *, ' ~ (computed | join(', ')) ~ ' from (\n' ~ sql ~ '\n) as model_rows') }}
{% endmacro %}

{#- A SQL list literal of file paths. -#}
{% macro incremental_parquet__file_list(paths) -%}
    [{%- for path in paths -%}{{ incremental_parquet__literal(path) }}{{ ', ' if not loop.last }}{%- endfor -%}]
{%- endmacro %}

{#- The partition folder (e.g. 'archive_year=2023') of a data file path held in `column`:
    its last `depth` folders. -#}
{% macro incremental_parquet__relpath(settings, column) -%}
    rtrim(regexp_extract({{ column }}, '((?:[^/]+/){{ '{' ~ settings.depth ~ '}' }})[^/]+$', 1), '/')
{%- endmacro %}

{#- Ask the project plugin to do a file operation (see loaders/chrono_analytics/lake.py). -#}
{% macro incremental_parquet__lake_op(settings, op, extra=none) %}
    {%- set request = {'op': op, 'location': settings.location, 'invocation_id': invocation_id,
                       'swap_lock_timeout_seconds': settings.swap_lock_timeout_seconds} -%}
    {%- if extra -%}
        {%- do request.update(extra) -%}
    {%- endif -%}
    {%- do adapter.store_relation(settings.plugin, this, [], settings.location, 'parquet', request) -%}
{% endmacro %}

{#- Whether every data file of the inventory sits in folders named after the declared partition
    columns, in order; raises (naming both layouts) unless `full_refresh`, which replaces a lake
    written with another partition_by. -#}
{% macro incremental_parquet__layout_matches(settings, inventory, full_refresh) %}
    {%- set foreign = [] -%}
    {%- for entry in inventory -%}
        {%- set folders = entry.relpath.split('/') -%}
        {%- for name in settings.partition_names -%}
            {%- if not folders[loop.index0].startswith(name ~ '=') and entry.relpath not in foreign -%}
                {%- do foreign.append(entry.relpath) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if foreign and not full_refresh -%}
        {{ exceptions.raise_compiler_error(
            "incremental_parquet " ~ settings.model_name ~ ": the lake at " ~ settings.location
            ~ " holds partitions laid out otherwise (e.g. " ~ foreign[0] ~ ") than the model's partition_by ("
            ~ (settings.partition_names | join(', ')) ~ "); run the model with --full-refresh to rewrite it") }}
    {%- endif -%}
    {{ return(foreign | length == 0) }}
{% endmacro %}

{#- The lake's data files: a list of {'file', 'relpath', 'num_rows'} (footers only). -#}
{% macro incremental_parquet__inventory(settings) %}
    {%- set listed = run_query("select file from glob(" ~ incremental_parquet__literal(settings.glob) ~ ") order by file") -%}
    {%- set files = listed.columns[0].values() | list -%}
    {%- set inventory = [] -%}
    {%- if files | length > 0 -%}
        {%- set footers = run_query(
            "select file_name, num_rows from parquet_file_metadata("
            ~ incremental_parquet__file_list(files) ~ ") order by file_name") -%}
        {%- for row in footers.rows -%}
            {%- set parts = (row[0] | string).split('/') -%}
            {%- do inventory.append({
                'file': row[0] | string,
                'relpath': parts[-(settings.depth + 1):-1] | join('/'),
                'num_rows': row[1] | int,
            }) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(inventory) }}
{% endmacro %}

{#- Columns of a query: a list of {'name', 'type'}. -#}
{% macro incremental_parquet__describe(query) %}
    {%- set described = run_query('describe ' ~ query) -%}
    {%- set columns = [] -%}
    {%- for row in described.rows -%}
        {%- do columns.append({'name': row[0] | string, 'type': row[1] | string}) -%}
    {%- endfor -%}
    {{ return(columns) }}
{% endmacro %}

{#- True when this incremental_parquet model will run incrementally: no full refresh, and its lake
    holds at least one row. Rolls an interrupted swap forward first (and takes the model's write
    lock), because the answer and the watermark must come from the lake after roll-forward. -#}
{% macro incremental_parquet_is_incremental() %}
    {%- if not execute or should_full_refresh() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set settings = incremental_parquet_settings(config, this.identifier) -%}
    {%- do incremental_parquet__lake_op(settings, 'recover') -%}
    {%- set inventory = incremental_parquet__inventory(settings) -%}
    {{ return((inventory | sum(attribute='num_rows')) > 0) }}
{% endmacro %}

{#- dbt's is_incremental() is true only for materialized='incremental'; this project override
    answers for incremental_parquet models too and defers to dbt for every other model. -#}
{% macro is_incremental() %}
    {%- if execute and model is defined and config.get('materialized') == 'incremental_parquet' -%}
        {{ return(incremental_parquet_is_incremental()) }}
    {%- endif -%}
    {#- outside dbt (sqlfluff renders the models with these macros) there is no dbt namespace -#}
    {{ return(dbt.is_incremental() if dbt is defined else false) }}
{% endmacro %}

{#- A SQL literal: the greatest watermark stored in the lake minus the lookback, read from the
    Parquet footers' statistics. Use it in the model's filter:
    {% if is_incremental() %} where updated_at > {{ incremental_watermark() }} {% endif %} -#}
{% macro incremental_watermark(column=none) %}
    {%- if not execute -%}
        {{ return('null') }}
    {%- endif -%}
    {%- set settings = incremental_parquet_settings(config, this.identifier) -%}
    {%- set column = column or settings.watermark_column -%}
    {%- do incremental_parquet__lake_op(settings, 'recover') -%}
    {%- set inventory = incremental_parquet__inventory(settings) -%}
    {%- do incremental_parquet__layout_matches(settings, inventory, false) -%}
    {%- set files = [] -%}
    {%- for entry in inventory if entry.num_rows > 0 -%}
        {%- do files.append(entry.file) -%}
    {%- endfor -%}
    {%- if files | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "incremental_watermark(): the lake of " ~ this.identifier ~ " holds no rows; call it "
            ~ "only inside {% if is_incremental() %}") }}
    {%- endif -%}
    {%- set lake_columns = incremental_parquet__describe(
        'select * from ' ~ incremental_parquet__read(settings, incremental_parquet__file_list(files))) -%}
    {%- set data_type = [] -%}
    {%- for col in lake_columns if col.name | lower == column | lower -%}
        {%- do data_type.append(col.type) -%}
    {%- endfor -%}
    {%- if data_type | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "incremental_watermark(): column " ~ column ~ " is not in the lake of " ~ this.identifier) }}
    {%- endif -%}
    {%- set data_type = data_type[0] -%}
    {%- if not (data_type.startswith('TIMESTAMP') or data_type == 'DATE') -%}
        {{ exceptions.raise_compiler_error(
            "incremental_watermark(): column " ~ column ~ " is " ~ data_type ~ "; the watermark must be a date or timestamp") }}
    {%- endif -%}
    {%- set found = run_query(
        "select cast(cast(coalesce(max(cast(stats_max_value as " ~ data_type ~ ")), '-infinity')"
        ~ " - interval '" ~ settings.lookback_seconds ~ " seconds' as " ~ data_type ~ ") as varchar)"
        ~ " from parquet_metadata(" ~ incremental_parquet__file_list(files) ~ ")"
        ~ " where path_in_schema = " ~ incremental_parquet__literal(column)) -%}
    {%- set watermark = found.columns[0].values()[0] | string -%}
    {{ log('incremental_parquet ' ~ this.identifier ~ ': watermark ' ~ column ~ ' > ' ~ watermark
        ~ ' (lake maximum minus ' ~ settings.lookback_seconds ~ ' s)') }}
    {{ return('cast(' ~ incremental_parquet__literal(watermark) ~ ' as ' ~ data_type ~ ')') }}
{% endmacro %}

{#- on-run-start: (re)create the view of every incremental_parquet model whose lake holds files,
    so that ref() to an unselected model resolves, also from a fresh DuckDB file. Read-only: it
    does not lock or repair a lake (a lake is readable at every moment). -#}
{% macro register_incremental_parquet_views() %}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set registered = [] -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.config.materialized == 'incremental_parquet' -%}
        {%- set settings = incremental_parquet_settings(node.config, node.alias) -%}
        {%- set inventory = incremental_parquet__inventory(settings) -%}
        {%- if inventory | length > 0 and not incremental_parquet__layout_matches(settings, inventory, true) -%}
            {{ log('incremental_parquet ' ~ node.alias ~ ': not registered, its lake at ' ~ settings.location
                ~ ' is laid out by another partition_by (run the model with --full-refresh)', info=true) }}
        {%- elif inventory | length > 0 -%}
            {%- set relation = api.Relation.create(
                database=node.database, schema=node.schema, identifier=node.alias, type='view') -%}
            {%- do run_query('create schema if not exists ' ~ relation.without_identifier()) -%}
            {%- do run_query('create or replace view ' ~ relation ~ ' as '
                ~ incremental_parquet__view_query(settings)) -%}
            {%- do registered.append(node.alias) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if registered | length > 0 -%}
        {{ log('registered ' ~ (registered | length) ~ ' incremental_parquet views: '
            ~ (registered | join(', ')), info=true) }}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}

{#- The relation of the model named `name`, from the graph (a ref() in the materialization
    would not be a dependency dbt knows of). -#}
{% macro incremental_parquet__model_relation(name) %}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == name -%}
        {{ return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias)) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("incremental_parquet " ~ this.identifier
        ~ ": the model '" ~ name ~ "', named by delete_missing_from or values_from, is not in the project") }}
{% endmacro %}
