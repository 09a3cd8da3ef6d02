{#- The SQL of the incremental_parquet materialization (incremental_parquet.sql): small macros
    that return statements as strings, and the call of the Python side through the chrono_lake
    DuckDB function. Arguments are documented in macros/_macros.yml. -#}

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

{#- One column (`prefix`-qualified, quoted), or a struct of several ({'a': prefix."a", ...}):
    the value a recompute set or a change feed holds for a row. -#}
{% macro incremental_parquet__struct_of(names, prefix='') -%}
    {%- if names | length == 1 -%}
        {{ prefix }}{{ incremental_parquet__quote(names[0]) }}
    {%- else -%}
        {
        {%- for name in names -%}
            {{ incremental_parquet__literal(name) }}: {{ prefix }}{{ incremental_parquet__quote(name) }}{{ ', ' if not loop.last }}
        {%- endfor -%}
        }
    {%- endif -%}
{%- endmacro %}

{#- `left.k1 = right.k1 and ...` over `names`: for columns that hold no NULL (keys: the run
    refuses a NULL key). An equality join lets DuckDB push the range of one side's values
    into the other side's Parquet scan and skip its row groups; `is not distinct from`
    (incremental_parquet__match) does not. -#}
{% macro incremental_parquet__equal(names, left, right) -%}
    {%- for name in names -%}
        {{ left }}.{{ incremental_parquet__quote(name) }} = {{ right }}.{{ incremental_parquet__quote(name) }}
        {{- ' and ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{#- `left.k1 is not distinct from right.k1 and ...` over `names`. -#}
{% macro incremental_parquet__match(names, left, right) -%}
    {%- for name in names -%}
        {{ left }}.{{ incremental_parquet__quote(name) }} is not distinct from {{ right }}.{{ incremental_parquet__quote(name) }}
        {{- ' and ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{#- The raw configuration the Python side validates (lake/settings.py): the model's config
    keys, with the lookback resolved from the vars (--vars lookback_hours, then the model's
    `lookback`, then the project var lookback_hours). -#}
{% macro incremental_parquet__raw_config(cfg) %}
    {%- set cli_vars = invocation_args_dict.get('vars') or {} -%}
    {%- set cli_vars = fromyaml(cli_vars) or {} if cli_vars is string else cli_vars -%}
    {%- if cli_vars is mapping and 'lookback_hours' in cli_vars -%}
        {%- set lookback = cli_vars['lookback_hours'] -%}
    {%- elif cfg.get('lookback') is not none -%}
        {%- set lookback = cfg.get('lookback') -%}
    {%- else -%}
        {%- set lookback = var('lookback_hours', 1) -%}
    {%- endif -%}
    {%- set raw = {'lookback': lookback} -%}
    {%- for key in ['location', 'partition_by', 'unique_key', 'order_by', 'recompute', 'watermark',
                    'record_changes', 'feed_limit', 'max_file_rows', 'retention_seconds', 'history_snapshots', 'lock_timeout_seconds',
                    'on_schema_change', 'compression', 'compression_level', 'row_group_size'] -%}
        {%- if cfg.get(key) is not none -%}
            {%- do raw.update({key: cfg.get(key)}) -%}
        {%- endif -%}
    {%- endfor -%}
    {#- the environment's defaults, for every model that does not set its own -#}
    {%- for key, variable in [('retention_seconds', 'CHRONO_LAKE_RETENTION_SECONDS'),
                              ('lock_timeout_seconds', 'CHRONO_LAKE_LOCK_TIMEOUT'),
                              ('feed_limit', 'CHRONO_LAKE_FEED_LIMIT'),
                              ('max_file_rows', 'CHRONO_LAKE_MAX_FILE_ROWS')] -%}
        {%- if raw.get(key) is none and env_var(variable, '') != '' -%}
            {%- do raw.update({key: env_var(variable)}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(raw) }}
{% endmacro %}

{#- Send one request to the lake's Python side (chrono_analytics.lake.channel) and return its
    result; a refusal (bad config, lake locked, layout changed, ...) raises with its message.
    `cfg` and `identifier` name the model (default: the one being built). -#}
{% macro incremental_parquet__call(op, extra=none, cfg=none, identifier=none) %}
    {%- set request = {
        'op': op,
        'model': identifier or this.identifier,
        'external_root': adapter.external_root(),
        'config': incremental_parquet__raw_config(cfg if cfg is not none else config),
    } -%}
    {%- do request.update(extra or {}) -%}
    {%- set answer = fromjson(run_query(
        'select chrono_lake(' ~ incremental_parquet__literal(tojson(request)) ~ ')').columns[0].values()[0]) -%}
    {%- if not answer.ok -%}
        {{ exceptions.raise_compiler_error(answer.error) }}
    {%- endif -%}
    {{ return(answer.result) }}
{% endmacro %}

{#- The fields of a struct `{'values': {<partition column>: <its value>}}` of a row, the shape
    in which the lake's Python side takes partitions. -#}
{% macro incremental_parquet__partition_struct(partition_names) %}
    {%- set fields = [] -%}
    {%- for name in partition_names -%}
        {%- do fields.append(incremental_parquet__literal(name) ~ ': ' ~ incremental_parquet__quote(name)) -%}
    {%- endfor -%}
    {{ return("'values': {" ~ (fields | join(', ')) ~ '}') }}
{% endmacro %}

{#- read_parquet over a list of files (their partition columns are stored inside them), or a
    typed empty select of `columns` when there is none. -#}
{% macro incremental_parquet__files_sql(files, columns, uniform_schema, extra=none) %}
    {%- set typed = [] -%}
    {%- for column in columns -%}
        {%- do typed.append('cast(null as ' ~ column.type ~ ') as ' ~ incremental_parquet__quote(column.name)) -%}
    {%- endfor -%}
    {%- set typed_empty = '(select ' ~ (typed | join(', ') if typed else '1 as __chrono_empty') ~ ' where false)' -%}
    {%- if files | length == 0 -%}
        {{ return(typed_empty) }}
    {%- endif -%}
    {%- set listed = [] -%}
    {%- for file in files -%}
        {%- do listed.append(incremental_parquet__literal(file)) -%}
    {%- endfor -%}
    {%- set scan = 'read_parquet([' ~ (listed | join(', ')) ~ '], hive_partitioning = false'
        ~ (', ' ~ extra if extra else '') -%}
    {#- files of one schema are read by the first one's; others are unified by column name
        (which reads every file's footer at each query), and a column none of them holds (one
        a schema change added while keeping every file) reads NULL of its type -#}
    {%- if uniform_schema or not typed -%}
        {{ return(scan ~ ')') }}
    {%- endif -%}
    {{ return('(select * from ' ~ typed_empty ~ ' union all by name select * from ' ~ scan ~ ', union_by_name = true))') }}
{% endmacro %}

{#- The query of a model's view: its columns, in order, from the files of one snapshot. -#}
{% macro incremental_parquet__view_sql(snapshot) %}
    {%- set names = snapshot.columns | map(attribute='name') | list -%}
    {{ return('select ' ~ incremental_parquet__columns(names) ~ ' from '
        ~ incremental_parquet__files_sql(snapshot.file_uris, snapshot.columns, snapshot.uniform_schema)) }}
{% endmacro %}

{#- `create temp table <name> as <query>`. -#}
{% macro incremental_parquet__temp_table_sql(name, query) %}
    {{ return('create or replace temp table ' ~ incremental_parquet__quote(name) ~ ' as ' ~ query) }}
{% endmacro %}

{#- The recompute set of the temp table `table` (one column, `value`) as SQL literals, read
    once per run: {'values': 'v1, v2, ...' or none, 'has_null': whether NULL is among them}. -#}
{% macro incremental_parquet__recompute_literals(table) %}
    {%- set found = run_query(
        "select string_agg(case when typeof(value) in ('TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', "
        ~ "'HUGEINT', 'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT') then cast(value as varchar) "
        ~ "else '''' || replace(cast(value as varchar), '''', '''''') || '''' end, ', ' order by value), "
        ~ "count(*) filter (where value is null) from " ~ incremental_parquet__quote(table)).rows[0] -%}
    {{ return({'values': found[0], 'has_null': (found[1] | int) > 0}) }}
{% endmacro %}

{#- The filter keeping the rows whose `column_sql` (an SQL column reference) holds a value of
    the recompute set, the temp table `table`. With `literals` (recompute_literals, for
    `inline`): `column in (v1, v2, ...)`, `or column is null` when NULL is among them, the form
    DuckDB pushes down into a PostgreSQL scan; without: a subquery on the table. -#}
{% macro incremental_parquet__recompute_filter_sql(column_sql, table, literals) %}
    {%- if literals is none -%}
        {%- set values = incremental_parquet__quote(table) -%}
        {{ return(column_sql ~ ' in (select value from ' ~ values ~ ') or (' ~ column_sql
            ~ ' is null and exists (select 1 from ' ~ values ~ ' where value is null))') }}
    {%- endif -%}
    {%- set parts = [] -%}
    {%- if literals['values'] is not none -%}
        {%- do parts.append(column_sql ~ ' in (' ~ literals['values'] ~ ')') -%}
    {%- endif -%}
    {%- if literals.has_null -%}
        {%- do parts.append(column_sql ~ ' is null') -%}
    {%- endif -%}
    {{ return(parts | join(' or ') if parts else 'false') }}
{% endmacro %}

{#- Where a model reads its input: `recomputed_input(column)` marks a filter that is `true` as
    compiled (a full build, dbt compile, docs) and that an incremental run with a recompute set
    replaces by the recompute filter on `column`: a column of that input holding, in every input
    row, the recompute column's value of each output row the input row feeds (project_analytics:
    a page's processing_date is the analytics_date of every group it counts in). The model's
    rows are still filtered on the recompute column; the marker takes the filter to the input's
    scan where DuckDB does not push it: through a common table expression the query references
    more than once, which DuckDB materializes whole before any outer filter applies. -#}
{% macro recomputed_input(column) -%}
    {{ incremental_parquet__input_marker(column) }}
{%- endmacro %}

{#- The text of a recomputed_input marker, written in one place for the macro that writes it
    and the one that replaces it. -#}
{% macro incremental_parquet__input_marker(column) -%}
    /* incremental_parquet recomputed input: {{ column }} */ true
{%- endmacro %}

{#- The model's SQL with each recomputed_input marker replaced by the recompute filter on its
    column, in parentheses; returns [the SQL, how many markers it replaced]. -#}
{% macro incremental_parquet__narrow_inputs(sql, table, literals) %}
    {%- set pattern = modules.re.escape(incremental_parquet__input_marker('COLUMN') ~ '')
        | replace('COLUMN', '(.+?)') -%}
    {%- set columns = modules.re.findall(pattern, sql) -%}
    {%- set narrowed = namespace(sql=sql) -%}
    {%- for column in columns | unique -%}
        {%- set narrowed.sql = narrowed.sql | replace(incremental_parquet__input_marker(column) ~ '',
            '(' ~ incremental_parquet__recompute_filter_sql(column, table, literals) ~ ')') -%}
    {%- endfor -%}
    {{ return([narrowed.sql, columns | length]) }}
{% endmacro %}

{#- Whether an incremental run has nothing to recompute: its recompute set (the temp table
    `table`) is empty and the model's columns, as DuckDB binds `sql` (reading no row), are the
    lake's `columns` (names, order and types). -#}
{% macro incremental_parquet__nothing_to_recompute(table, sql, columns) %}
    {%- if (run_query('select count(*) from ' ~ incremental_parquet__quote(table)).columns[0].values()[0] | int) > 0 -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(incremental_parquet__describe('select * from (\n' ~ sql ~ '\n) as model_rows') == columns) }}
{% endmacro %}

{#- Warn about each of the model's columns (`model_columns`) that Parquet stores with another
    type (`stored_columns`, read back from a file written from them), e.g. a HUGEINT sum stored
    as DOUBLE: readers see the stored type, and the model's incremental runs never find their
    columns equal to the lake's, so they cannot skip when there is nothing to recompute. -#}
{% macro incremental_parquet__warn_converted_types(model_columns, stored_columns) %}
    {%- set stored = {} -%}
    {%- for column in stored_columns -%}
        {%- do stored.update({column.name: column.type}) -%}
    {%- endfor -%}
    {%- for column in model_columns if column.name in stored and stored[column.name] != column.type -%}
        {%- do exceptions.warn('incremental_parquet ' ~ this.identifier ~ ': column ' ~ column.name ~ ' is '
            ~ column.type ~ ' in the model and ' ~ stored[column.name] ~ ' in Parquet; cast it in the model'
            ~ ' to the type its readers should see') -%}
    {%- endfor -%}
{% endmacro %}

{#- The order the delta is stored in: the partition columns, then order_by (the order of the
    rows inside a file). Each partition's rows are then consecutive, so a file's COPY reads only
    its partition's row groups, and in a full refresh each file is a range of row positions
    (rowid) written without a sort of its own. -#}
{% macro incremental_parquet__stored_order(settings) %}
    {{ return(settings.partition_names + (settings.order_by | reject('in', settings.partition_names) | list)) }}
{% endmacro %}

{#- The delta: the model's rows this run rebuilds (all of them, or those whose recompute
    column holds a value of the recompute set), sorted by `order`
    (incremental_parquet__stored_order). -#}
{% macro incremental_parquet__delta_sql(sql, recompute_filter, order) %}
    {{ return('select * from (\n' ~ sql ~ '\n) as model_rows'
        ~ ('\nwhere ' ~ recompute_filter if recompute_filter else '')
        ~ '\norder by ' ~ incremental_parquet__columns(order)) }}
{% endmacro %}
