{#-
  incremental_parquet: a model stored as hive-partitioned Parquet files, immutable files of
  max_file_rows rows at most in each partition, committed by publishing a snapshot (loaders/chrono_analytics/lake/: layout,
  protocol, what a crash leaves). The model's relation is a view over the files of one
  snapshot. Configuration reference: macros/_macros.yml.

  The model's SQL is the same in every run: it selects all its rows. The materialization
  decides which ones it needs: a full build takes them all; an incremental run takes the rows
  whose `recompute` column holds a value of the recompute set (the model's `recompute.values`
  macro computes it at execution time, e.g. the pages changed in PostgreSQL since the
  watermark), and replaces exactly the stored rows holding those values. So compiled SQL
  never depends on the lake, and rendering a model (dbt compile, docs, show, ls) touches
  nothing.

  Steps of a run (Python steps go through chrono_lake(), lake/channel.py):
    1. begin     lock the lake, read its current snapshot, full or incremental      (Python)
    2. clock     the watermark for the next run, read before any data              (SQL)
    3. stored    a view over the current snapshot's files                           (SQL)
    4. delta     the recompute set, then the model's rows for it (none to recompute:
                 on to step 10, when the model's columns are the lake's)           (SQL)
    5. check     columns present, no NULL or duplicate key                          (Python)
    6. schema    the written columns against the lake's (on_schema_change)          (Python)
    7. changes   changed rows, deleted rows, the files holding them, new rows' partitions (SQL)
    8. plan      the files to rewrite, the new files and their ranges of rows        (Python)
    9. write     one sorted file at a time, each of max_file_rows rows at most       (SQL)
   10. commit    publish the next snapshot, vacuum, unlock                          (Python)
   11. view      the model's view over the committed files                          (SQL)
-#}
{% materialization incremental_parquet, adapter='duckdb' %}
    {%- set q = incremental_parquet__quote -%}
    {%- set started_at = modules.datetime.datetime.now() -%}
    {%- set target_relation = this.incorporate(type='view') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set tmp = '__chrono_' ~ this.identifier ~ '__' -%}
    {%- set temp_tables = [] -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {%- if config.get('contract') and config.get('contract').enforced -%}
        {{ get_assert_columns_equivalent(sql) }}
    {%- endif -%}

    {#- dbt run --empty builds nothing: the view reads the committed lake, or the model's
        (empty) query when the lake was never built -#}
    {%- if invocation_args_dict.get('empty') -%}
        {%- set current = incremental_parquet__call('snapshot') -%}
        {%- set view_sql = incremental_parquet__view_sql(current)
            if current is not none else 'select * from (\n' ~ sql ~ '\n) as empty_model' -%}
        {{ incremental_parquet__create_view(existing_relation, target_relation, view_sql) }}
        {{ log('incremental_parquet ' ~ this.identifier ~ ': --empty, the lake is left as it is', info=true) }}
        {{ adapter.commit() }}
        {{ return({'relations': [target_relation]}) }}
    {%- endif -%}

    {#- 1. begin -#}
    {%- set run = incremental_parquet__call('begin', {
        'invocation_id': invocation_id, 'full_refresh': should_full_refresh()}) -%}
    {%- set settings = run.settings -%}
    {%- set keys = settings.unique_key -%}

    {#- 2. clock: the source's clock before any row is read; the next run starts from it -#}
    {%- set watermark = none -%}
    {%- if settings.watermark -%}
        {%- set watermark = run_query(context[settings.watermark]()).columns[0].values()[0] -%}
        {%- set watermark = none if watermark is none else watermark | string -%}
    {%- endif -%}

    {#- 3. stored: the current snapshot's rows -#}
    {%- set stored = tmp ~ 'stored' -%}
    {%- do run_query('create or replace temp view ' ~ q(stored) ~ ' as select * from '
        ~ incremental_parquet__files_sql(run.files, run.columns, run.uniform_schema)) -%}

    {#- 4. delta: the recompute set (incremental runs of a model with `recompute`), then the
        model's rows for it -#}
    {%- set recompute_filter = none -%}
    {%- set recomputed = none -%}
    {%- set literals = none -%}
    {%- set narrowed_inputs = 0 -%}
    {%- set recompute_report = {} -%}
    {%- if settings.recompute -%}
        {%- set strangers = settings.recompute.upstream_columns.keys() | reject('in', incremental_parquet__upstream_models()) | list -%}
        {%- if strangers -%}
            {%- do incremental_parquet__call('abort') -%}
            {{ exceptions.raise_compiler_error('incremental_parquet ' ~ this.identifier ~ ': recompute.upstream_columns names '
                ~ (strangers | join(', ')) ~ ', not an incremental_parquet model this model reads (its refs: '
                ~ (incremental_parquet__upstream_models() | join(', ')) ~ ')') }}
        {%- endif -%}
    {%- endif -%}
    {%- if not run.full_refresh and settings.recompute -%}
        {%- set values_sql = context[settings.recompute['values']]({
            'since': run.since, 'stored': q(stored), 'model': this.identifier,
            'upstream': run.get('upstream', {}), 'upstream_columns': settings.recompute.upstream_columns,
            'report': recompute_report}) -%}
        {%- if values_sql is not none -%}
            {%- set recomputed = tmp ~ 'recompute' -%}
            {%- do temp_tables.append(recomputed) -%}
            {%- do run_query(incremental_parquet__temp_table_sql(recomputed,
                'select distinct value from (' ~ values_sql ~ ') as recompute_values(value)')) -%}
            {%- set literals = incremental_parquet__recompute_literals(recomputed) if settings.recompute.inline else none -%}
            {%- set recompute_filter = incremental_parquet__recompute_filter_sql(incremental_parquet__struct_of(settings.recompute.columns), recomputed, literals) -%}
            {%- set narrowed = incremental_parquet__narrow_inputs(sql, recomputed, literals) -%}
            {%- set sql = narrowed[0] -%}
            {%- set narrowed_inputs = narrowed[1] -%}
        {%- endif -%}
    {%- endif -%}
    {#- nothing to recompute: an empty recompute set holds no stored row and yields no model row,
        so when the model's columns are the lake's (no schema change to apply or refuse) the
        run skips steps 4 (the model's rows) to 9 and commits the new watermark and the upstream
        versions it consumed, with nothing written -#}
    {%- set nothing_to_recompute = recomputed is not none
        and incremental_parquet__nothing_to_recompute(recomputed, sql, run.columns) -%}
    {%- if nothing_to_recompute -%}
        {%- set counts = [0, 0, 0] -%}
        {%- set read_seconds, write_seconds = 0, 0 -%}
        {%- set empty_feed = {} -%}
        {%- for entry in settings.record_changes -%}
            {%- do empty_feed.update({entry.key: '[]'}) -%}
        {%- endfor -%}
        {%- set changes = {'recompute_values': 0, 'changed_rows': 0, 'deleted_rows': 0, 'feed': empty_feed} -%}
        {%- set plan = {'retired': []} -%}
        {%- set written = [] -%}
    {%- else -%}
        {%- set delta = tmp ~ 'delta' -%}
        {%- do temp_tables.append(delta) -%}
        {%- set read_started = modules.datetime.datetime.now() -%}
        {%- do run_query(incremental_parquet__temp_table_sql(delta, incremental_parquet__delta_sql(sql, recompute_filter, incremental_parquet__stored_order(settings)))) -%}
        {%- set read_seconds = (modules.datetime.datetime.now() - read_started).total_seconds() -%}

        {#- 5. check: the configured columns exist, no key is NULL or repeated -#}
        {%- set model_columns = incremental_parquet__describe('select * from ' ~ q(delta)) -%}
        {%- set key_list = incremental_parquet__columns(keys) -%}
        {%- set counts = run_query('select count(*), count(*) filter (where '
            ~ incremental_parquet__columns(keys) | replace(', ', ' is null or ') ~ ' is null), count(distinct ('
            ~ key_list ~ ')) from ' ~ q(delta)).rows[0] -%}
        {%- do incremental_parquet__call('check', {
            'columns': model_columns | map(attribute='name') | list,
            'rows': counts[0] | int, 'null_keys': counts[1] | int}) -%}
        {%- if (counts[2] | int) < (counts[0] | int) -%}
            {%- set example = run_query('select ' ~ key_list ~ ' from ' ~ q(delta) ~ ' group by all having count(*) > 1 limit 1').rows[0] -%}
            {%- do incremental_parquet__call('abort') -%}
            {{ exceptions.raise_compiler_error('incremental_parquet ' ~ this.identifier ~ ': '
                ~ ((counts[0] | int) - (counts[2] | int)) ~ ' rows repeat a unique_key (' ~ (keys | join(', '))
                ~ '), e.g. ' ~ (example | list) ~ '; each key must appear once') }}
        {%- endif -%}

        {#- 6. schema: the columns as Parquet stores them (a round trip of an empty file) -#}
        {%- set template = settings.location ~ '/_chrono/template-' ~ invocation_id ~ '.parquet' -%}
        {%- do run_query('copy (select * from ' ~ q(delta) ~ ' limit 0) to ' ~ incremental_parquet__literal(template)
            ~ ' (format parquet)') -%}
        {%- set template_columns = incremental_parquet__describe(
            'select * from read_parquet(' ~ incremental_parquet__literal(template) ~ ')') -%}
        {%- do incremental_parquet__warn_converted_types(model_columns, template_columns) -%}
        {%- set schema = incremental_parquet__call('schema', {'columns': template_columns}) -%}
        {%- set out_names = schema.columns | map(attribute='name') | list -%}
        {%- set delta_names = model_columns | map(attribute='name') | list -%}

        {#- 7. changes -#}
        {%- set changes = incremental_parquet__changes(run, settings, stored, delta, recomputed, literals, out_names, delta_names, tmp, temp_tables) -%}

        {#- 8. plan: the files each touched partition gets -#}
        {%- set plan = incremental_parquet__call('plan', {'touched': changes.touched_json, 'inserts': changes.inserts_json}) -%}

        {#- 9. write: the rows of each group after the run, sorted, one file at a time. A group
            of more rows than max_file_rows has each of its files take a consecutive range of
            positions in order_by order, so no file holds more than max_file_rows rows and the
            files of a partition hold disjoint ranges of the order. Such a file is a range of
            row positions of a table stored in that order, scanned in order (DuckDB preserves
            insertion order) with no sort of its own: in a full refresh the changed rows' table
            itself (its rows are stored in partition, then order_by order), in an incremental
            run the group's rows first stored sorted (a temp table). A group of one file is
            sorted by its COPY. The files of a group must hold the rows counted before any was
            written -#}
        {%- set write_started = modules.datetime.datetime.now() -%}
        {%- set written = [] -%}
        {%- set order_list = incremental_parquet__columns(settings.order_by) -%}
        {%- set group_sorted = tmp ~ 'group_sorted' -%}
        {%- for group in plan.groups -%}
            {%- set group_rows = incremental_parquet__group_rows_sql(group, run, settings, changes, out_names) -%}
            {#- the table holding the group's rows in order, from row position first_row on, up
                to end_row (none: to its end, so the last file takes every row the table holds and
                a count other than the plan's fails the run below) -#}
            {%- set sorted = namespace(table=none, first_row=none, end_row=none) -%}
            {%- if group.inserts is not none and not group.retired and group.inserts in changes.first_rows -%}
                {%- set sorted.table, sorted.first_row = changes.changed, changes.first_rows[group.inserts] -%}
                {%- set sorted.end_row = sorted.first_row + group.rows -%}
            {%- elif group.files | length > 1 -%}
                {%- do temp_tables.append(group_sorted) if group_sorted not in temp_tables -%}
                {%- do run_query(incremental_parquet__temp_table_sql(group_sorted,
                    'select * from (' ~ group_rows ~ ') as group_rows order by ' ~ order_list)) -%}
                {%- set sorted.table, sorted.first_row = group_sorted, 0 -%}
            {%- endif -%}
            {%- set copied = namespace(rows=0) -%}
            {%- for file in group.files -%}
                {%- if sorted.table is not none -%}
                    {%- set end_row = sorted.first_row + file.end_position if file.end_position is not none else sorted.end_row -%}
                    {%- set file_rows = 'select ' ~ incremental_parquet__columns(out_names) ~ ' from ' ~ q(sorted.table)
                        ~ ' where rowid >= ' ~ (sorted.first_row + file.first_position)
                        ~ (' and rowid < ' ~ end_row if end_row is not none else '') -%}
                {%- else -%}
                    {%- set file_rows = 'select * from (' ~ group_rows ~ ') as group_rows order by ' ~ order_list -%}
                {%- endif -%}
                {%- set rows = run_query('copy (' ~ file_rows ~ ') to ' ~ incremental_parquet__literal(file.uri)
                    ~ ' (' ~ settings.write_options ~ ')').columns[0].values()[0] | int -%}
                {%- if rows > 0 -%}
                    {#- the first file is reported as it lands (the crash point during_write);
                        the others with the commit, which verifies and flushes every file -#}
                    {%- if written | length == 0 -%}
                        {%- do incremental_parquet__call('written', {'relpath': file.relpath, 'rows': rows}) -%}
                    {%- endif -%}
                    {%- do written.append({'relpath': file.relpath, 'rows': rows}) -%}
                {%- endif -%}
                {%- set copied.rows = copied.rows + rows -%}
            {%- endfor -%}
            {%- if copied.rows != group.rows -%}
                {%- do incremental_parquet__call('abort') -%}
                {{ exceptions.raise_compiler_error('incremental_parquet ' ~ this.identifier ~ ': partition '
                    ~ (group.partition | tojson) ~ ' got ' ~ copied.rows ~ ' rows in a group of files, ' ~ group.rows
                    ~ ' were expected (kept + changed); nothing was committed') }}
            {%- endif -%}
        {%- endfor -%}
        {%- set write_seconds = (modules.datetime.datetime.now() - write_started).total_seconds() -%}
    {%- endif -%}

    {#- 10. commit -#}
    {%- set stats = {
        'mode': 'full refresh' if run.full_refresh else 'incremental',
        'recompute_values': changes.recompute_values, 'narrowed_inputs': narrowed_inputs,
        'nothing_to_recompute': nothing_to_recompute, 'recompute_report': recompute_report,
        'delta_rows': counts[0] | int,
        'changed_rows': changes.changed_rows, 'deleted_rows': changes.deleted_rows,
        'files_written': written | length, 'files_retired': plan.retired | length,
        'read_seconds': read_seconds, 'write_seconds': write_seconds,
        'total_seconds': (modules.datetime.datetime.now() - started_at).total_seconds()} -%}
    {%- set committed = incremental_parquet__call('commit', {
        'written': written, 'watermark': watermark, 'changes': changes.feed,
        'upstream': incremental_parquet__upstream_versions(), 'run': stats}) -%}

    {#- 11. view -#}
    {%- set view_sql = incremental_parquet__view_sql(committed) -%}
    {{ incremental_parquet__create_view(existing_relation, target_relation, view_sql) }}
    {%- do incremental_parquet__record_view(this.identifier, committed.version, target_relation, view_sql) -%}
    {#- one statement for all of them: each statement costs dbt about 10 ms of its own -#}
    {%- set drops = [] -%}
    {%- for name in temp_tables -%}
        {%- do drops.append('drop table if exists ' ~ q(name)) -%}
    {%- endfor -%}
    {%- do drops.append('drop view if exists ' ~ q(stored)) -%}
    {%- do run_query(drops | join(';\n')) -%}

    {{ log('incremental_parquet ' ~ this.identifier ~ ': ' ~ stats.mode ~ (', nothing to recompute' if nothing_to_recompute else '') ~ ', snapshot ' ~ committed.version
        ~ ', ' ~ stats.delta_rows ~ ' delta rows, ' ~ stats.changed_rows ~ ' changed, ' ~ stats.deleted_rows
        ~ ' deleted, ' ~ stats.files_written ~ ' files written, ' ~ stats.files_retired ~ ' retired, in '
        ~ '%.2f' | format((modules.datetime.datetime.now() - started_at).total_seconds()) ~ ' s', info=true) }}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do persist_docs(target_relation, model) %}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}


{#- Step 7: what the delta changes in the lake. Returns {'changed_rows', 'deleted_rows',
    'recompute_values', 'touched_json' (each current file holding a changed or deleted row:
    its uri, those rows, the changed rows that stay in it), 'inserts_json' (each partition
    receiving changed rows no file of it held, numbered), 'partition_filters' (the SQL filter
    of each numbered partition's rows), 'first_rows' (full refresh: the row position of each
    numbered partition's first row in the changed rows' table; empty otherwise), 'feed' (record_changes: the values of the changed and
    deleted rows, old and new)} and leaves the temp tables changed (the delta itself in a full
    refresh writing the model's columns), deleted,
    replaced (with __chrono_file, the file of each row), placed (incremental runs: the key of
    each changed row and __chrono_target, the file its old version held when it stays in that
    partition, else NULL) and parts (the partitions of the inserts, __chrono_slot numbering
    them). -#}
{% macro incremental_parquet__changes(run, settings, stored, delta, recomputed, literals, out_names, delta_names, tmp, temp_tables) %}
    {%- set q = incremental_parquet__quote -%}
    {%- set keys = settings.unique_key -%}
    {%- set pcols = settings.partition_names -%}
    {#- a full refresh whose columns are the model's writes the delta itself (no copy of it) -#}
    {%- set changed = delta if run.full_refresh and out_names == delta_names else tmp ~ 'changed' -%}
    {%- set deleted, replaced, placed, parts = tmp ~ 'deleted', tmp ~ 'replaced', tmp ~ 'placed', tmp ~ 'parts' -%}
    {%- do temp_tables.extend([changed, deleted, replaced, placed, parts]) -%}
    {%- set recorded_columns = [] -%}
    {%- for entry in settings.record_changes -%}
        {%- do recorded_columns.extend(entry.columns) -%}
    {%- endfor -%}
    {%- set tracked = (keys + pcols + recorded_columns) | unique | list -%}
    {%- set as_delta = [] -%}
    {%- for name in out_names -%}
        {%- do as_delta.append(q(name) if name in delta_names else 'null as ' ~ q(name)) -%}
    {%- endfor -%}
    {%- set stored_names = run.columns | map(attribute='name') | list -%}
    {%- set pcol_list = incremental_parquet__columns(pcols) -%}
    {%- if run.full_refresh -%}
        {#- everything is rewritten; the old rows only tell which keys left (deleted) -#}
        {%- do run_query(incremental_parquet__temp_table_sql(changed, 'select ' ~ (as_delta | join(', ')) ~ ' from ' ~ q(delta)
            ~ ' order by ' ~ incremental_parquet__columns(incremental_parquet__stored_order(settings)))) if changed != delta else none -%}
        {%- set old_rows = q(stored) if (tracked | reject('in', stored_names) | list | length) == 0 else '(select * from ' ~ q(delta) ~ ' where false)' -%}
        {%- do run_query(incremental_parquet__temp_table_sql(replaced, 'select ' ~ incremental_parquet__columns(tracked, 's.')
            ~ ', cast(null as varchar) as __chrono_file from ' ~ old_rows ~ ' as s')) -%}
        {%- set inserted = q(changed) -%}
    {%- else -%}
        {#- stored rows this run may replace, with their file: every row when the model has no
            recompute set (it recomputes all its rows), else those holding a recomputed value,
            and any with a key of the delta. A recompute set of one column is found by an
            equality semi join (its NULL, when it holds one, by a filter of its own): DuckDB
            then skips the row groups outside the set's range of values, where an OR of
            the two conditions reads the column of every row of the mart -#}
        {%- set stored_rows = incremental_parquet__files_sql(run.files, run.columns, run.uniform_schema, "filename = '__chrono_file'") if run.files
            else '(select *, cast(null as varchar) as __chrono_file from ' ~ q(stored) ~ ')' -%}
        {%- set candidate_columns = incremental_parquet__columns(tracked, 's.') ~ ', s.__chrono_file' -%}
        {%- set candidates = 'select ' ~ candidate_columns ~ ' from ' ~ stored_rows ~ ' as s' -%}
        {%- if recomputed is not none -%}
            {%- if settings.recompute.columns | length == 1 -%}
                {%- set column = 's.' ~ q(settings.recompute.columns[0]) -%}
                {#- inline recompute sets were read as literals already (step 4) -#}
                {%- set recomputes_null = literals.has_null if literals is not none
                    else run_query('select count(*) filter (where value is null) > 0 from ' ~ q(recomputed)).columns[0].values()[0] -%}
                {%- set candidates = candidates ~ ' semi join ' ~ q(recomputed) ~ ' as r on ' ~ column ~ ' = r.value'
                    ~ ((' union select ' ~ candidate_columns ~ ' from ' ~ stored_rows ~ ' as s where ' ~ column ~ ' is null') if recomputes_null else '') -%}
            {%- else -%}
                {%- set candidates = candidates ~ ' where ' ~ incremental_parquet__recompute_filter_sql(
                    incremental_parquet__struct_of(settings.recompute.columns, 's.'), recomputed, none) -%}
            {%- endif -%}
            {%- set candidates = candidates ~ ' union select ' ~ candidate_columns ~ ' from ' ~ stored_rows ~ ' as s semi join '
                ~ q(delta) ~ ' as d on ' ~ incremental_parquet__equal(keys, 's', 'd') -%}
        {%- endif -%}
        {%- do run_query(incremental_parquet__temp_table_sql(replaced, candidates)) -%}
        {#- changed: delta rows that differ from their stored version (an unchanged source
            rewrites nothing), each with __chrono_changed_columns: the names of the columns
            that differ, ['*'] for a row no file held (the change feed tells its readers which
            columns changed). A stored row with a key of the delta is among the replaced
            rows, so only their files are read in full, not the whole mart -#}
        {%- set compared_files = fromjson(run_query('select cast(to_json(coalesce(list(distinct __chrono_file order by __chrono_file), [])) as varchar) from '
            ~ q(replaced) ~ ' where __chrono_file is not null').columns[0].values()[0]) -%}
        {%- set new_values, differences = [], [] -%}
        {%- for name in out_names -%}
            {%- set new_value = 'd.' ~ q(name) if name in delta_names else 'null' -%}
            {%- do new_values.append(new_value ~ ' as ' ~ q(name)) -%}
            {%- do differences.append('case when ' ~ new_value ~ ' is distinct from '
                ~ ('s.' ~ q(name) if name in stored_names else 'null') ~ ' then ' ~ incremental_parquet__literal(name) ~ ' end') -%}
        {%- endfor -%}
        {%- set stored_versions = 'select *, true as __chrono_stored from ' ~ incremental_parquet__files_sql(compared_files, run.columns, run.uniform_schema) -%}
        {%- do run_query(incremental_parquet__temp_table_sql(changed,
            'select * from (select ' ~ (new_values | join(', ')) ~ ", case when s.__chrono_stored then list_filter(["
            ~ (differences | join(', ')) ~ "], name -> name is not null) else ['*'] end as __chrono_changed_columns from "
            ~ q(delta) ~ ' as d left join (' ~ stored_versions ~ ') as s on ' ~ incremental_parquet__equal(keys, 'd', 's')
            ~ ') where len(__chrono_changed_columns) > 0')) -%}
        {#- placed: where each changed row goes, the file of its old version when it stays in
            that partition, else none (an insert into its partition) -#}
        {%- do run_query(incremental_parquet__temp_table_sql(placed,
            'select ' ~ incremental_parquet__columns(keys, 'c.') ~ ', r.__chrono_file as __chrono_target from ' ~ q(changed)
            ~ ' as c left join ' ~ q(replaced) ~ ' as r on ' ~ incremental_parquet__match(keys, 'c', 'r')
            ~ ' and ' ~ incremental_parquet__match(pcols, 'c', 'r'))) -%}
        {%- set inserted = '(select c.* from ' ~ q(changed) ~ ' as c semi join ' ~ q(placed) ~ ' as p on '
            ~ incremental_parquet__match(keys, 'c', 'p') ~ ' and p.__chrono_target is null)' -%}
    {%- endif -%}
    {#- deleted: replaced rows whose key the delta does not hold -#}
    {%- do run_query(incremental_parquet__temp_table_sql(deleted,
        'select r.* from ' ~ q(replaced) ~ ' as r anti join ' ~ q(delta) ~ ' as d on ' ~ incremental_parquet__match(keys, 'r', 'd'))) -%}
    {#- parts: the partitions receiving inserts, numbered in order, each with the filter of
        its rows as SQL text (literal values, which DuckDB pushes into the scan of the changed
        rows: sorted by partition, a file's COPY reads only its partition's row groups, where a
        join would read every changed row for every file). In a full refresh the inserts are
        the changed rows' table itself, stored in incremental_parquet__stored_order: each
        partition's rows are then the row positions (rowid) __chrono_first_row to
        __chrono_last_row, in the order of its files -#}
    {%- set partition_filters = [] -%}
    {%- for name in pcols -%}
        {%- do partition_filters.append("case when " ~ q(name) ~ " is null then " ~ incremental_parquet__literal(q(name) ~ ' is null')
            ~ " else " ~ incremental_parquet__literal(q(name) ~ ' = cast(') ~ " || '''' || replace(cast(" ~ q(name)
            ~ " as varchar), '''', '''''') || ''' as ' || typeof(" ~ q(name) ~ ") || ')' end") -%}
    {%- endfor -%}
    {%- do run_query(incremental_parquet__temp_table_sql(parts,
        'select *, row_number() over (order by ' ~ pcol_list ~ ') - 1 as __chrono_slot, '
        ~ (partition_filters | join(" || ' and ' || ")) ~ ' as __chrono_filter from (select '
        ~ pcol_list ~ ', count(*) as __chrono_rows, '
        ~ ('min(rowid) as __chrono_first_row, max(rowid) as __chrono_last_row' if run.full_refresh
            else 'null as __chrono_first_row, null as __chrono_last_row')
        ~ ' from ' ~ inserted ~ ' group by all)')) -%}
    {%- set filters, first_rows = {}, {} -%}
    {%- for row in run_query('select __chrono_slot, __chrono_filter, __chrono_first_row, '
        ~ '__chrono_last_row - __chrono_first_row + 1 = __chrono_rows from ' ~ q(parts)).rows -%}
        {%- do filters.update({row[0] | int: row[1] | string}) -%}
        {%- if row[3] -%}
            {%- do first_rows.update({row[0] | int: row[2] | int}) -%}
        {%- endif -%}
    {%- endfor -%}
    {#- positions are used only when every partition's rows are consecutive -#}
    {%- set first_rows = first_rows if first_rows | length == filters | length else {} -%}
    {#- the touched files: each holding a changed or deleted row (incremental runs) -#}
    {%- set touched_json = '[]' -%}
    {%- if not run.full_refresh -%}
        {%- set touched_json = run_query('with removed as (select r.__chrono_file as uri, count(*) as removed from '
            ~ q(replaced) ~ ' as r semi join (select ' ~ incremental_parquet__columns(keys) ~ ' from ' ~ q(changed)
            ~ ' union all select ' ~ incremental_parquet__columns(keys) ~ ' from ' ~ q(deleted) ~ ') as x on '
            ~ incremental_parquet__match(keys, 'r', 'x') ~ ' where r.__chrono_file is not null group by all), stays as ('
            ~ 'select __chrono_target as uri, count(*) as stays from ' ~ q(placed) ~ ' where __chrono_target is not null group by all)'
            ~ " select cast(to_json(coalesce(list({'uri': uri, 'removed': removed, 'stays': coalesce(stays, 0)} order by uri), []))"
            ~ ' as varchar) from removed left join stays using (uri)').columns[0].values()[0] -%}
    {%- endif -%}
    {%- set figures = run_query(
        'select (select cast(to_json(coalesce(list({' ~ incremental_parquet__partition_struct(pcols)
        ~ ", 'rows': __chrono_rows, 'number': __chrono_slot} order by __chrono_slot), []))"
        ~ ' as varchar) from ' ~ q(parts) ~ '), (select count(*) from ' ~ q(changed) ~ '), (select count(*) from ' ~ q(deleted)
        ~ '), ' ~ ('(select count(*) from ' ~ q(recomputed) ~ ')' if recomputed is not none else 'null')).rows[0] -%}
    {#- the change feed: each record_changes entry's values (a column's, or a struct of several
        columns') among changed rows (new), their old versions and deleted rows, and for each
        list of changed columns the values of the rows it names (by position among the
        values; ['*'] for rows inserted or deleted), so a reader that reads a few of the
        columns skips the rows changed in others only; a full refresh records none
        (everything changed), and neither is an entry recorded whose values outnumber the
        model's feed_limit (a snapshot stays small; a reader of the feed then recomputes
        everything, as after a full refresh) -#}
    {%- set feed = {} -%}
    {%- if not run.full_refresh -%}
        {%- for entry in settings.record_changes -%}
            {%- set values = run_query(
                'with tagged as (select ' ~ incremental_parquet__struct_of(entry.columns, 'c.') ~ ' as v, c.__chrono_changed_columns as changed_columns from '
                ~ q(changed) ~ ' as c union all select ' ~ incremental_parquet__struct_of(entry.columns, 'r.') ~ ', c.__chrono_changed_columns from '
                ~ q(replaced) ~ ' as r join ' ~ q(changed) ~ ' as c on ' ~ incremental_parquet__match(keys, 'r', 'c')
                ~ ' union all select ' ~ incremental_parquet__struct_of(entry.columns) ~ ", ['*'] from " ~ q(deleted) ~ '),'
                ~ ' numbered as (select v, row_number() over (order by v) - 1 as position, list(distinct changed_columns) as column_lists'
                ~ ' from tagged group by v),'
                ~ ' by_columns as (select changed_columns, list(position order by position) as positions from ('
                ~ 'select position, unnest(column_lists) as changed_columns from numbered) group by changed_columns)'
                ~ ' select case when (select count(v) from numbered) <= ' ~ settings.feed_limit
                ~ " then cast(to_json({'values': (select coalesce(list(v order by position), []) from numbered),"
                ~ " 'changed_columns': (select coalesce(list({'columns': changed_columns, 'values': positions} order by changed_columns), []) from by_columns)})"
                ~ ' as varchar) end').columns[0].values()[0] -%}
            {%- if values is not none -%}
                {%- do feed.update({entry.key: values}) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return({
        'touched_json': touched_json, 'inserts_json': figures[0], 'changed_rows': figures[1] | int, 'deleted_rows': figures[2] | int,
        'recompute_values': none if figures[3] is none else figures[3] | int, 'feed': feed,
        'partition_filters': filters, 'first_rows': first_rows, 'changed': changed, 'deleted': deleted, 'replaced': replaced, 'placed': placed}) }}
{% endmacro %}


{#- Step 9: the query of one group's rows after the run (writer.Group): the changed rows that
    stay in its retired file's place, the inserts of its partition when it takes them, and the
    rows of its retired file neither changed nor deleted. -#}
{% macro incremental_parquet__group_rows_sql(group, run, settings, changes, out_names) %}
    {%- set q = incremental_parquet__quote -%}
    {%- set keys = settings.unique_key -%}
    {%- set rows = [] -%}
    {%- if group.retired -%}
        {%- do rows.append('select ' ~ incremental_parquet__columns(out_names, 'c.') ~ ' from ' ~ q(changes.changed)
            ~ ' as c semi join (select * from ' ~ q(changes.placed) ~ ' where __chrono_target = '
            ~ incremental_parquet__literal(group.retired_uri) ~ ') as p on ' ~ incremental_parquet__match(keys, 'c', 'p')) -%}
    {%- endif -%}
    {%- if group.inserts is not none -%}
        {%- set inserts = 'select ' ~ incremental_parquet__columns(out_names, 'c.') ~ ' from (select * from ' ~ q(changes.changed)
            ~ ' where ' ~ changes.partition_filters[group.inserts] ~ ') as c' -%}
        {%- if not run.full_refresh -%}
            {%- set inserts = inserts ~ ' semi join (select * from ' ~ q(changes.placed) ~ ' where __chrono_target is null) as x on '
                ~ incremental_parquet__match(keys, 'c', 'x') -%}
        {%- endif -%}
        {%- do rows.append(inserts) -%}
    {%- endif -%}
    {%- if group.retired -%}
        {%- do rows.append('select k.* from ' ~ incremental_parquet__files_sql([group.retired_uri], run.columns, run.uniform_schema) ~ ' as k anti join '
            ~ q(changes.changed) ~ ' as c on ' ~ incremental_parquet__match(keys, 'k', 'c') ~ ' anti join '
            ~ q(changes.deleted) ~ ' as x on ' ~ incremental_parquet__match(keys, 'k', 'x')) -%}
    {%- endif -%}
    {{ return('select ' ~ incremental_parquet__columns(out_names) ~ ' from (' ~ (rows | join(' union all by name ')) ~ ')') }}
{% endmacro %}


{#- Columns of a query: a list of {'name', 'type'}. -#}
{% macro incremental_parquet__describe(query) %}
    {%- set columns = [] -%}
    {%- for row in run_query('describe ' ~ query).rows -%}
        {%- do columns.append({'name': row[0] | string, 'type': row[1] | string}) -%}
    {%- endfor -%}
    {{ return(columns) }}
{% endmacro %}


{#- The model's view (replacing a table of the same name left by another materialization). -#}
{% macro incremental_parquet__create_view(existing_relation, target_relation, view_sql) %}
    {%- if existing_relation is not none and existing_relation.type != 'view' -%}
        {{ adapter.drop_relation(existing_relation) }}
    {%- endif -%}
    {% call statement('main') -%}
        create or replace view {{ target_relation }} as {{ view_sql }}
    {%- endcall %}
{% endmacro %}


{#- Which snapshot each incremental_parquet view of this DuckDB file reads, as a one-row view
    main."__chrono_snapshot__<model>" (one object per model: concurrent threads never write
    the same catalog entry). A downstream model reads the change feed of its upstream models
    from the version it consumed last up to the one its view reads. -#}
{% macro incremental_parquet__record_view(identifier, version, relation, view_sql) %}
    {#- and, in the same statement, the view's comment (view_comment) -#}
    {%- do run_query('create or replace view main.' ~ incremental_parquet__quote('__chrono_snapshot__' ~ identifier)
        ~ ' as select ' ~ (version | int) ~ ' as version;\n'
        ~ 'comment on view ' ~ relation ~ ' is '
        ~ incremental_parquet__literal(incremental_parquet__view_comment(view_sql, version))) -%}
{% endmacro %}


{#- The comment a model's view carries once registered (record_view): the snapshot it reads and
    the md5 of its query. The run-start hook leaves a view whose comment is the one it would
    write, since it would create the same view; any other view (no comment, as after a
    `create or replace`, another snapshot, another lake) it creates again. -#}
{% macro incremental_parquet__view_comment(view_sql, version) %}
    {{ return('incremental_parquet view of snapshot ' ~ (version | int) ~ ', query md5 ' ~ local_md5(view_sql)) }}
{% endmacro %}


{#- The names of the incremental_parquet models the current model reads (its parents). -#}
{% macro incremental_parquet__upstream_models() %}
    {%- set names = [] -%}
    {%- for parent in model.depends_on.nodes -%}
        {%- set node = graph.nodes.get(parent) -%}
        {%- if node and node.resource_type == 'model' and node.config.materialized == 'incremental_parquet' -%}
            {%- do names.append(node.alias) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(names) }}
{% endmacro %}


{#- The snapshot version of each upstream incremental_parquet model the current model read:
    {name: version}. -#}
{% macro incremental_parquet__upstream_versions() %}
    {%- set names = incremental_parquet__upstream_models() -%}
    {%- set versions = {} -%}
    {%- if names -%}
        {%- set recorded = run_query("select view_name from duckdb_views() where schema_name = 'main'"
            ~ " and database_name = current_database() and starts_with(view_name, '__chrono_snapshot__')"
            ).columns[0].values() | list -%}
        {%- set selects = [] -%}
        {%- for name in names if ('__chrono_snapshot__' ~ name) in recorded -%}
            {%- do selects.append('select ' ~ incremental_parquet__literal(name) ~ ' as model, version from main.'
                ~ incremental_parquet__quote('__chrono_snapshot__' ~ name)) -%}
        {%- endfor -%}
        {%- if selects -%}
            {%- for row in run_query(selects | join(' union all ')).rows -%}
                {%- do versions.update({row[0] | string: row[1] | int}) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(versions) }}
{% endmacro %}
