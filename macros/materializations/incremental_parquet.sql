{#-
  incremental_parquet: an incremental model stored as hive-partitioned Parquet files, one file
  per partition, upserted by unique key; the model's relation is a view over the files.

  Configuration (full reference in macros/_macros.yml):
    partition_by        required. [{'name': <column>, 'data_type': <DuckDB type>}, ...]; the
                        types pin the partition columns when the files are read (hive_types).
                        An entry may add 'expression': <SQL over the model's columns>, a
                        partition column that is not the model's (the view hides it).
    unique_key          required. A column or a list of columns; never NULL.
    location            folder of the files; default <external_root>/<model alias>, external_root
                        being the profile's (CHRONO_LAKE_ROOT, default 'lake').
    watermark_column    default 'updated_at'; a date or timestamp column of the model.
    lookback            hours subtracted from the lake's greatest watermark; default: the var
                        lookback_hours (1). --vars '{lookback_hours: N}' overrides every model.
    order_by            column(s) sorting the rows inside each file; default unique_key (the
                        unique key is always appended to break ties).
    compression         default 'zstd'; compression_level and row_group_size are optional.
    delete_missing_from {'model': <name>, 'columns': [<its key columns>]}: an incremental run
                        deletes stored rows whose key that model no longer holds.
    complete_within     [<columns>] or {'columns': [...], 'values_from': {'model': <name>,
                        'columns': [...]}}: the delta holds every row of each value it holds;
                        stored rows of those values missing from it are deleted (and, with
                        values_from, stored rows of values that model no longer holds).
    on_schema_change    'fail' (default; dbt's implicit 'ignore' counts as 'fail') or
                        'append_new_columns'.
    swap_grace_seconds  default 1.0: pause between the two swap phases (see below).
    swap_lock_timeout_seconds  default 300: how long a swap waits for readers holding
                        chrono_analytics.lake.read_lock before failing (nothing changed).
    lake_plugin         default 'chrono': the profile's plugin alias that does the file work.

  The model's SQL selects the changed rows when incremental:
    {% if is_incremental() %} where updated_at > {{ incremental_watermark() }} {% endif %}

  A run: roll forward an interrupted swap and clear leftovers (the plugin; also done when
  is_incremental() is first evaluated) -> build the delta into a temp table -> drop delta rows
  identical to the stored ones -> find the affected partitions (where changed rows land and where
  their old versions live) -> stage one sorted file per affected partition (single-file COPY, so
  the order holds) -> the plugin journals and swaps: phase 1 rewrites partitions that lose keys
  to another partition without those keys, phase 2 renames the merged files into place, then
  emptied partitions are removed -> create the view. Untouched partitions are not rewritten.
  Readers in other processes that must never see a swap (nor fail on a file renamed during
  their query: DuckDB opens a file more than once per query) hold
  chrono_analytics.lake.read_lock(location) around each query.
  `dbt run --empty` leaves the lake alone (it would otherwise replace it by an empty one).
-#}
{% materialization incremental_parquet, adapter='duckdb' %}
    {%- set settings = incremental_parquet_settings(config, this.identifier) -%}
    {%- set clock = modules.datetime.datetime -%}
    {%- set started_at = clock.now() -%}
    {%- set target_relation = this.incorporate(type='view') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set tmp = '__chrono_' ~ this.identifier ~ '__' -%}
    {%- set keys = settings.unique_key -%}
    {%- set stage_dir = settings.staging_root ~ '/' ~ invocation_id -%}
    {%- set timings = {'read': 0.0, 'compute': 0.0, 'write': 0.0, 'swap': 0.0} -%}
    {%- set stats = {'delta': 0, 'changed': 0, 'deleted': 0, 'phase1': 0, 'final': 0, 'removed': 0} -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- if config.get('contract') and config.get('contract').enforced -%}
        {{ get_assert_columns_equivalent(sql) }}
    {%- endif -%}

    {#- dbt run --empty: build nothing (a full refresh would empty the lake); the view reads the
        lake when it holds files, else the model's (empty) query -#}
    {%- if invocation_args_dict.get('empty') -%}
        {%- set has_files = run_query("select count(*) from glob(" ~ incremental_parquet__literal(settings.glob)
            ~ ")").columns[0].values()[0] | int > 0 -%}
        {%- if existing_relation is not none and existing_relation.type != 'view' -%}
            {{ adapter.drop_relation(existing_relation) }}
        {%- endif -%}
        {%- set view_select = incremental_parquet__view_query(settings) if has_files
            else 'select * from (\n' ~ sql ~ '\n) as empty_model' -%}
        {% call statement('main') -%}
            create or replace view {{ target_relation }} as {{ view_select }}
        {%- endcall %}
        {{ log('incremental_parquet ' ~ this.identifier ~ ': --empty, the lake is left as it is', info=true) }}
        {%- do incremental_parquet__lake_op(settings, 'release') -%}
        {{ adapter.commit() }}
        {{ return({'relations': [target_relation]}) }}
    {%- endif -%}

    {#- 1. lock, roll forward, clear leftovers; decide the mode from the lake -#}
    {%- do incremental_parquet__lake_op(settings, 'recover') -%}
    {%- set inventory = incremental_parquet__inventory(settings) -%}
    {%- set lake_rows = inventory | sum(attribute='num_rows') -%}
    {%- set full_refresh = should_full_refresh() or lake_rows == 0 -%}
    {%- set layout_matches = incremental_parquet__layout_matches(settings, inventory, full_refresh) -%}
    {%- do incremental_parquet__lake_op(settings, 'stage') -%}

    {#- 2. the delta: the model's rows, partition columns cast to their declared types -#}
    {%- set mark = clock.now() -%}
    {%- do run_query('create or replace temp table ' ~ incremental_parquet__quote(tmp ~ 'delta') ~ ' as (\n'
        ~ incremental_parquet__model_rows(settings, sql) ~ '\n)') -%}
    {%- set delta = incremental_parquet__quote(tmp ~ 'delta') -%}
    {%- do timings.update({'read': (clock.now() - mark).total_seconds()}) -%}
    {%- set mark = clock.now() -%}
    {%- set model_columns = incremental_parquet__describe('select * from ' ~ delta) | map(attribute='name') | list -%}
    {%- set required = {'partition_by': settings.partition_names, 'unique_key': keys,
                        'order_by': settings.order_by, 'watermark_column': [settings.watermark_column]} -%}
    {%- for setting, names in required.items() -%}
        {%- for name in names if name not in model_columns -%}
            {{ exceptions.raise_compiler_error(
                "incremental_parquet " ~ this.identifier ~ ": " ~ setting ~ " column '" ~ name
                ~ "' is not a column of the model (columns: " ~ (model_columns | join(', ')) ~ ")") }}
        {%- endfor -%}
    {%- endfor -%}
    {%- for name in settings.partition_names -%}
        {%- do run_query('alter table ' ~ delta ~ ' alter column ' ~ incremental_parquet__quote(name)
            ~ ' set data type ' ~ settings.partition_types[name]) -%}
    {%- endfor -%}

    {#- 3. keys: none NULL; duplicates resolve to the greatest watermark, then a total order -#}
    {%- set key_counts = run_query(
        'select count(*), count(*) filter (where ' ~ incremental_parquet__columns(keys) | replace(', ', ' is null or ')
        ~ ' is null), count(distinct (' ~ incremental_parquet__columns(keys) ~ ')) from ' ~ delta).rows[0] -%}
    {%- do stats.update({'delta': key_counts[0] | int}) -%}
    {%- if (key_counts[1] | int) > 0 -%}
        {{ exceptions.raise_compiler_error(
            "incremental_parquet " ~ this.identifier ~ ": " ~ (key_counts[1] | int) ~ " rows have a NULL unique_key ("
            ~ (keys | join(', ')) ~ "); the unique key must never be NULL") }}
    {%- endif -%}
    {%- if (key_counts[2] | int) < (key_counts[0] | int) -%}
        {%- set tie_break = [] -%}
        {%- for name in model_columns if name != settings.watermark_column -%}
            {%- do tie_break.append(incremental_parquet__quote(name) ~ ' asc nulls last') -%}
        {%- endfor -%}
        {%- do run_query(
            'create or replace temp table ' ~ incremental_parquet__quote(tmp ~ 'delta_unique') ~ ' as '
            ~ 'select * from ' ~ delta ~ ' qualify row_number() over (partition by ' ~ incremental_parquet__columns(keys)
            ~ ' order by ' ~ incremental_parquet__quote(settings.watermark_column) ~ ' desc nulls last, '
            ~ (tie_break | join(', ')) ~ ') = 1') -%}
        {%- do run_query('drop table ' ~ delta) -%}
        {%- set delta = incremental_parquet__quote(tmp ~ 'delta_unique') -%}
    {%- endif -%}

    {#- 4. the stored schema of the model's rows (Parquet round trip), compared with the lake's -#}
    {%- set template = stage_dir ~ '/template.parquet' -%}
    {%- do run_query('copy (select * from ' ~ delta ~ ' limit 0) to ' ~ incremental_parquet__literal(template)
        ~ ' (' ~ settings.write_options ~ ')') -%}
    {%- set stored_columns = incremental_parquet__describe(
        'select * from read_parquet(' ~ incremental_parquet__literal(template) ~ ')') -%}
    {%- set stored_names = stored_columns | map(attribute='name') | list -%}
    {%- set lake_columns = [] -%}
    {%- if inventory | length > 0 and layout_matches -%}
        {%- set lake_columns = incremental_parquet__describe('select * from ' ~ incremental_parquet__read(settings)) -%}
    {%- endif -%}
    {%- set lake_names = lake_columns | map(attribute='name') | list -%}
    {%- set added, removed, retyped = [], [], [] -%}
    {%- for col in stored_columns if col.name not in lake_names -%}
        {%- do added.append(col.name ~ ' ' ~ col.type) -%}
    {%- endfor -%}
    {%- for col in lake_columns -%}
        {%- if col.name not in stored_names -%}
            {%- do removed.append(col.name ~ ' ' ~ col.type) -%}
        {%- else -%}
            {%- for new in stored_columns if new.name == col.name and new.type != col.type -%}
                {%- do retyped.append(col.name ~ ' ' ~ col.type ~ ' -> ' ~ new.type) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not full_refresh and (added or removed or retyped) -%}
        {%- if settings.on_schema_change == 'fail' or retyped -%}
            {{ exceptions.raise_compiler_error(
                "incremental_parquet " ~ this.identifier ~ ": the model's columns differ from the lake's at "
                ~ settings.location ~ " (on_schema_change='" ~ settings.on_schema_change ~ "'). "
                ~ "New columns: [" ~ (added | join(', ')) ~ "]; removed columns: [" ~ (removed | join(', '))
                ~ "]; changed types: [" ~ (retyped | join(', ')) ~ "]. Set on_schema_change='append_new_columns' "
                ~ "to add new columns (changed types always need --full-refresh), or run with --full-refresh.") }}
        {%- endif -%}
        {{ log('incremental_parquet ' ~ this.identifier ~ ': appending new columns [' ~ (added | join(', '))
            ~ '], keeping removed columns [' ~ (removed | join(', ')) ~ ']', info=true) }}
    {%- endif -%}

    {#- 5. where the delta's keys live now (a scan of the key columns only), the files holding
        them (read whole: the stored versions, and the rows kept by a rewrite), and the changed
        rows: in an incremental run, delta rows identical to their stored version (same
        partition, every column equal) are dropped, so an unchanged source rewrites nothing -#}
    {%- set q = incremental_parquet__quote -%}
    {%- set lake_read = incremental_parquet__read(settings, extra="filename = '__chrono_file'") -%}
    {%- set keyloc_sql = 'create or replace temp table ' ~ q(tmp ~ 'keyloc') ~ ' as select '
        ~ incremental_parquet__columns(keys, 'l.') ~ ', l.__chrono_file, '
        ~ incremental_parquet__relpath(settings, 'l.__chrono_file') ~ ' as __chrono_relpath from ' ~ lake_read ~ ' as l' -%}
    {%- set candidate_files = [] -%}
    {%- if full_refresh -%}
        {%- set changed = delta -%}
        {#- the old locations of all keys, to find the keys that move (when the key columns can
            be compared with the new ones) -#}
        {%- set comparable = [lake_rows > 0, layout_matches] -%}
        {%- for key in keys -%}
            {%- set old_types = lake_columns | selectattr('name', 'equalto', key) | map(attribute='type') | list -%}
            {%- set new_types = stored_columns | selectattr('name', 'equalto', key) | map(attribute='type') | list -%}
            {%- do comparable.append(old_types | length == 1 and old_types == new_types) -%}
        {%- endfor -%}
        {%- set track_moves = false not in comparable -%}
        {%- if track_moves -%}
            {%- do run_query(keyloc_sql) -%}
        {%- endif -%}
    {%- else -%}
        {%- set track_moves = true -%}
        {%- do run_query(keyloc_sql ~ ' semi join ' ~ delta ~ ' as d on ' ~ incremental_parquet__key_join(keys, 'l', 'd')) -%}
        {#- stored rows to delete (delete_missing_from, complete_within), never a key of the delta -#}
        {%- if settings.delete_missing_from or settings.complete_within -%}
            {%- set stored = 'select ' ~ incremental_parquet__columns(keys, 'l.') ~ ', l.__chrono_file, '
                ~ incremental_parquet__relpath(settings, 'l.__chrono_file') ~ ' as __chrono_relpath from ' ~ lake_read ~ ' as l ' -%}
            {%- set doomed = [] -%}
            {%- if settings.delete_missing_from -%}
                {%- set present = [] -%}
                {%- for column in settings.delete_missing_from.columns -%}
                    {%- do present.append(q(column) ~ ' as ' ~ q(keys[loop.index0])) -%}
                {%- endfor -%}
                {%- do doomed.append(stored ~ 'anti join (select ' ~ (present | join(', ')) ~ ' from '
                    ~ incremental_parquet__model_relation(settings.delete_missing_from.model) ~ ') as p on '
                    ~ incremental_parquet__key_join(keys, 'l', 'p')) -%}
            {%- endif -%}
            {%- if settings.complete_within -%}
                {%- set within_cols = settings.complete_within.columns -%}
                {%- set within = [] -%}
                {%- for column in within_cols -%}
                    {%- do within.append('l.' ~ q(column) ~ ' is not distinct from w.' ~ q(column)) -%}
                {%- endfor -%}
                {%- do doomed.append(stored ~ 'semi join (select distinct ' ~ incremental_parquet__columns(within_cols)
                    ~ ' from ' ~ delta ~ ') as w on ' ~ (within | join(' and '))) -%}
                {%- if settings.complete_within.values_from -%}
                    {%- set held = [] -%}
                    {%- for column in settings.complete_within.values_from.columns -%}
                        {%- do held.append(q(column) ~ ' as ' ~ q(within_cols[loop.index0])) -%}
                    {%- endfor -%}
                    {%- do doomed.append(stored ~ 'anti join (select distinct ' ~ (held | join(', ')) ~ ' from '
                        ~ incremental_parquet__model_relation(settings.complete_within.values_from.model) ~ ') as w on '
                        ~ (within | join(' and '))) -%}
                {%- endif -%}
            {%- endif -%}
            {%- do run_query('create or replace temp table ' ~ q(tmp ~ 'gone') ~ ' as select g.* from ('
                ~ (doomed | join(' union ')) ~ ') as g anti join ' ~ delta ~ ' as d on ' ~ incremental_parquet__key_join(keys, 'g', 'd')) -%}
            {%- do stats.update({'deleted': run_query('select count(*) from ' ~ q(tmp ~ 'gone')).columns[0].values()[0] | int}) -%}
        {%- endif -%}
        {%- set candidate_files = run_query('select distinct __chrono_file from ' ~ q(tmp ~ 'keyloc')
            ~ (' union select distinct __chrono_file from ' ~ q(tmp ~ 'gone') if stats.deleted > 0 else '')
            ~ ' order by 1').columns[0].values() | list -%}
        {%- if candidate_files | length > 0 -%}
            {%- do run_query(
                'create or replace temp table ' ~ q(tmp ~ 'existing') ~ ' as select l.* exclude (__chrono_file), '
                ~ incremental_parquet__relpath(settings, 'l.__chrono_file') ~ ' as __chrono_relpath from '
                ~ incremental_parquet__read(settings, incremental_parquet__file_list(candidate_files), "filename = '__chrono_file'") ~ ' as l') -%}
            {%- set existing_names = incremental_parquet__describe('select * from ' ~ q(tmp ~ 'existing')) | map(attribute='name') | list -%}
            {%- set stored_as_delta = [] -%}
            {%- for name in stored_names -%}
                {%- do stored_as_delta.append(q(name) if name in existing_names else 'null as ' ~ q(name)) -%}
            {%- endfor -%}
            {%- do run_query(
                'create or replace temp table ' ~ q(tmp ~ 'changed') ~ ' as '
                ~ 'select ' ~ incremental_parquet__columns(stored_names) ~ ' from ' ~ delta
                ~ ' except select ' ~ (stored_as_delta | join(', ')) ~ ' from ' ~ q(tmp ~ 'existing') ~ ' as e semi join '
                ~ delta ~ ' as d on ' ~ incremental_parquet__key_join(keys, 'e', 'd')) -%}
            {%- set changed = q(tmp ~ 'changed') -%}
        {%- else -%}
            {%- set changed = delta -%}
        {%- endif -%}
    {%- endif -%}
    {%- set changed_count = run_query('select count(*) from ' ~ changed).columns[0].values()[0] | int -%}
    {%- do stats.update({'changed': changed_count}) -%}

    {%- if changed_count > 0 or stats.deleted > 0 or full_refresh -%}
        {#- 6. partition folder names of the changed rows, as DuckDB's hive writer spells them: write
            the distinct partition values (plus the all-NULL one, the home of an empty model's
            file) with PARTITION_BY into a scratch folder and read the folder names back -#}
        {%- set pcols = incremental_parquet__columns(settings.partition_names) -%}
        {%- set all_null = [] -%}
        {%- for name in settings.partition_names -%}
            {%- do all_null.append('cast(null as ' ~ settings.partition_types[name] ~ ') as ' ~ q(name)) -%}
        {%- endfor -%}
        {%- do run_query(
            'create or replace temp table ' ~ q(tmp ~ 'parts') ~ ' as '
            ~ 'select *, row_number() over (order by ' ~ pcols ~ ') as __chrono_part from ('
            ~ 'select distinct ' ~ pcols ~ ' from ' ~ changed ~ ' union select ' ~ (all_null | join(', ')) ~ ')') -%}
        {%- set names_dir = stage_dir ~ '/partition_names' -%}
        {%- do run_query('copy (select ' ~ pcols ~ ', __chrono_part from ' ~ q(tmp ~ 'parts')
            ~ ') to ' ~ incremental_parquet__literal(names_dir) ~ ' (format parquet, partition_by (' ~ pcols ~ '))') -%}
        {%- do run_query(
            'create or replace temp table ' ~ q(tmp ~ 'part_paths') ~ ' as '
            ~ 'select p.*, n.__chrono_relpath from ' ~ q(tmp ~ 'parts') ~ ' as p inner join ('
            ~ 'select distinct __chrono_part, ' ~ incremental_parquet__relpath(settings, 'filename') ~ ' as __chrono_relpath'
            ~ ' from read_parquet(' ~ incremental_parquet__literal(names_dir ~ '/' ~ ('*/' * settings.depth) ~ '*.parquet')
            ~ ', filename = true, hive_partitioning = false)) as n using (__chrono_part)') -%}
        {%- set part_join = [] -%}
        {%- for name in settings.partition_names -%}
            {%- do part_join.append('c.' ~ q(name) ~ ' is not distinct from p.' ~ q(name)) -%}
        {%- endfor -%}
        {%- do run_query(
            'create or replace temp table ' ~ q(tmp ~ 'changed_p') ~ ' as '
            ~ 'select c.*, p.__chrono_relpath, p.__chrono_part as __chrono_slot from ' ~ changed ~ ' as c inner join '
            ~ q(tmp ~ 'part_paths') ~ ' as p on ' ~ (part_join | join(' and ')) ~ ' order by p.__chrono_part') -%}
        {%- set changed_p = q(tmp ~ 'changed_p') -%}
        {%- set sentinel_relpath = run_query(
            'select __chrono_relpath from ' ~ q(tmp ~ 'part_paths') ~ ' where '
            ~ incremental_parquet__columns(settings.partition_names) | replace(', ', ' is null and ') ~ ' is null'
            ).columns[0].values()[0] | string -%}

        {#- 7. keys that move to another partition (their old partition is first rewritten without
            them: phase 1), the affected existing partitions, and the merged rows -#}
        {%- set inventory_by_relpath = {} -%}
        {%- for entry in inventory -%}
            {%- do inventory_by_relpath.update({entry.relpath: entry}) -%}
        {%- endfor -%}
        {%- set phase1_relpaths = [] -%}
        {%- if track_moves -%}
            {%- do run_query('create or replace temp table ' ~ q(tmp ~ 'moved') ~ ' as select '
                ~ incremental_parquet__columns(keys, 'o.') ~ ', o.__chrono_relpath as __chrono_old_relpath from '
                ~ q(tmp ~ 'keyloc') ~ ' as o inner join ' ~ changed_p ~ ' as c on ' ~ incremental_parquet__key_join(keys, 'o', 'c')
                ~ ' where o.__chrono_relpath <> c.__chrono_relpath') -%}
            {%- set phase1_relpaths = run_query('select distinct __chrono_old_relpath from '
                ~ q(tmp ~ 'moved') ~ ' order by 1').columns[0].values() | list -%}
        {%- endif -%}
        {%- set affected = {} -%}
        {%- if full_refresh -%}
            {#- every existing partition is replaced or removed; the new rows are the merged rows -#}
            {%- for entry in inventory -%}
                {%- do affected.update({entry.relpath: entry}) -%}
            {%- endfor -%}
            {%- set phase1_files = [] -%}
            {%- for relpath in phase1_relpaths -%}
                {%- do phase1_files.append(inventory_by_relpath[relpath].file) -%}
            {%- endfor -%}
            {%- if phase1_files | length > 0 -%}
                {%- do run_query(
                    'create or replace temp table ' ~ q(tmp ~ 'existing') ~ ' as select l.* exclude (__chrono_file), '
                    ~ incremental_parquet__relpath(settings, 'l.__chrono_file') ~ ' as __chrono_relpath from '
                    ~ incremental_parquet__read(settings, incremental_parquet__file_list(phase1_files), "filename = '__chrono_file'") ~ ' as l') -%}
            {%- endif -%}
            {%- set merged = changed_p -%}
        {%- else -%}
            {#- partitions holding old versions of changed keys, partitions where changed rows land,
                and empty partitions (the file of a once empty model) -#}
            {%- set touched = run_query(
                'select distinct o.__chrono_relpath from ' ~ q(tmp ~ 'keyloc') ~ ' as o semi join '
                ~ changed_p ~ ' as c on ' ~ incremental_parquet__key_join(keys, 'o', 'c')
                ~ ' union select distinct __chrono_relpath from ' ~ changed_p
                ~ (' union select distinct __chrono_relpath from ' ~ q(tmp ~ 'gone') if stats.deleted > 0 else '')
                ).columns[0].values() | list -%}
            {%- for relpath in touched if relpath in inventory_by_relpath -%}
                {%- do affected.update({relpath: inventory_by_relpath[relpath]}) -%}
            {%- endfor -%}
            {%- for entry in inventory if entry.num_rows == 0 -%}
                {%- do affected.update({entry.relpath: entry}) -%}
            {%- endfor -%}
            {%- set kept_relpaths, landing_files = [], [] -%}
            {%- for relpath, entry in affected.items() | sort if entry.num_rows > 0 -%}
                {%- do kept_relpaths.append(incremental_parquet__literal(relpath)) -%}
                {%- if entry.file not in candidate_files -%}
                    {%- do landing_files.append(entry.file) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- set parts_of_merge = ['select * exclude (__chrono_slot) from ' ~ changed_p] -%}
            {%- if candidate_files | length > 0 and kept_relpaths | length > 0 -%}
                {%- do parts_of_merge.append('select e.* from ' ~ q(tmp ~ 'existing') ~ ' as e anti join ' ~ changed_p
                    ~ ' as c on ' ~ incremental_parquet__key_join(keys, 'e', 'c')
                    ~ (' anti join ' ~ q(tmp ~ 'gone') ~ ' as g on ' ~ incremental_parquet__key_join(keys, 'e', 'g')
                        if stats.deleted > 0 else '')
                    ~ ' where e.__chrono_relpath in (' ~ (kept_relpaths | join(', ')) ~ ')') -%}
            {%- endif -%}
            {%- if landing_files | length > 0 -%}
                {%- do parts_of_merge.append('select l.* exclude (__chrono_file), '
                    ~ incremental_parquet__relpath(settings, 'l.__chrono_file') ~ ' as __chrono_relpath from '
                    ~ incremental_parquet__read(settings, incremental_parquet__file_list(landing_files), "filename = '__chrono_file'") ~ ' as l') -%}
            {%- endif -%}
            {#- numbered partitions (__chrono_slot): the per-file COPYs filter on an integer, which
                the temp table's min/max statistics prune (a string's keep only its prefix) -#}
            {%- do run_query('create or replace temp table ' ~ q(tmp ~ 'merged') ~ ' as '
                ~ 'with merged_rows as (' ~ (parts_of_merge | join(' union all by name ')) ~ '), '
                ~ 'slots as (select __chrono_relpath, row_number() over (order by __chrono_relpath) as __chrono_slot '
                ~ 'from (select distinct __chrono_relpath from merged_rows)) '
                ~ 'select merged_rows.*, slots.__chrono_slot from merged_rows inner join slots using (__chrono_relpath) '
                ~ 'order by slots.__chrono_slot') -%}
            {%- set merged = q(tmp ~ 'merged') -%}
        {%- endif -%}

        {#- the written columns: the model's, in its order, then (append_new_columns) removed ones -#}
        {%- set out_names = stored_names | list -%}
        {%- for col in incremental_parquet__describe('select * from ' ~ merged) -%}
            {%- if col.name not in out_names and col.name not in ('__chrono_relpath', '__chrono_slot') -%}
                {%- do out_names.append(col.name) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set out_cols = incremental_parquet__columns(out_names) -%}
        {%- set order_cols = incremental_parquet__columns(settings.order_by) -%}
        {%- set final_slots = run_query('select distinct __chrono_slot, __chrono_relpath from ' ~ merged ~ ' order by 1').rows -%}
        {%- set final_relpaths = final_slots | map(attribute=1) | map('string') | list -%}

        {#- an empty lake keeps one empty file (in the all-NULL partition) so that reads never fail -#}
        {%- set rows_elsewhere = [] -%}
        {%- for entry in inventory if entry.relpath not in affected and entry.num_rows > 0 -%}
            {%- do rows_elsewhere.append(entry.relpath) -%}
        {%- endfor -%}
        {%- set sentinel = final_relpaths | length == 0 and rows_elsewhere | length == 0 -%}
        {%- do timings.update({'compute': (clock.now() - mark).total_seconds()}) -%}

        {#- 8. stage one sorted file per partition (a single-file COPY keeps the ORDER BY) -#}
        {%- set mark = clock.now() -%}
        {%- set plan = {} -%}
        {%- for relpath in affected -%}
            {%- do plan.update({relpath: {'relpath': relpath, 'final': none, 'phase1': none}}) -%}
        {%- endfor -%}
        {%- for slot, relpath in final_slots -%}
            {%- set name = 'final_' ~ loop.index ~ '.parquet' -%}
            {%- do run_query('copy (select ' ~ out_cols ~ ' from ' ~ merged ~ ' where __chrono_slot = '
                ~ (slot | int) ~ ' order by ' ~ order_cols ~ ') to '
                ~ incremental_parquet__literal(stage_dir ~ '/' ~ name) ~ ' (' ~ settings.write_options ~ ')') -%}
            {%- do plan.update({relpath | string: {'relpath': relpath | string, 'final': name, 'phase1': none}}) -%}
        {%- endfor -%}
        {%- if sentinel -%}
            {%- do run_query('copy (select ' ~ out_cols ~ ' from ' ~ merged ~ ' limit 0) to '
                ~ incremental_parquet__literal(stage_dir ~ '/final_empty.parquet') ~ ' (' ~ settings.write_options ~ ')') -%}
            {%- do plan.update({sentinel_relpath: {'relpath': sentinel_relpath, 'final': 'final_empty.parquet', 'phase1': none}}) -%}
        {%- endif -%}
        {%- for relpath in phase1_relpaths -%}
            {%- set name = 'phase1_' ~ loop.index ~ '.parquet' -%}
            {%- do run_query('copy (select e.* exclude (__chrono_relpath) from ' ~ incremental_parquet__quote(tmp ~ 'existing')
                ~ ' as e anti join ' ~ incremental_parquet__quote(tmp ~ 'moved') ~ ' as m on '
                ~ incremental_parquet__key_join(keys, 'e', 'm') ~ ' where e.__chrono_relpath = ' ~ incremental_parquet__literal(relpath)
                ~ ' order by ' ~ incremental_parquet__columns(settings.order_by, 'e.') ~ ') to '
                ~ incremental_parquet__literal(stage_dir ~ '/' ~ name) ~ ' (' ~ settings.write_options ~ ')') -%}
            {%- do plan[relpath].update({'phase1': name}) -%}
        {%- endfor -%}
        {%- do timings.update({'write': (clock.now() - mark).total_seconds()}) -%}

        {#- 9. journal and swap (the plugin) -#}
        {%- set mark = clock.now() -%}
        {%- set partitions = [] -%}
        {%- for relpath, entry in plan.items() | sort -%}
            {%- do partitions.append(entry) -%}
        {%- endfor -%}
        {%- do incremental_parquet__lake_op(settings, 'commit', {
            'depth': settings.depth, 'partitions': partitions, 'grace_seconds': settings.grace_seconds}) -%}
        {%- do timings.update({'swap': (clock.now() - mark).total_seconds()}) -%}
        {%- do stats.update({
            'final': partitions | selectattr('final') | list | length,
            'phase1': partitions | selectattr('phase1') | list | length,
            'removed': partitions | rejectattr('final') | list | length}) -%}
    {%- else -%}
        {%- do timings.update({'compute': (clock.now() - mark).total_seconds()}) -%}
    {%- endif -%}

    {#- 10. the view over the files -#}
    {%- if existing_relation is not none and existing_relation.type != 'view' -%}
        {{ adapter.drop_relation(existing_relation) }}
    {%- endif -%}
    {% call statement('main') -%}
        create or replace view {{ target_relation }} as
        {{ incremental_parquet__view_query(settings) }}
    {%- endcall %}
    {%- do incremental_parquet__lake_op(settings, 'release') -%}
    {%- for name in ['delta', 'delta_unique', 'keyloc', 'existing', 'changed', 'parts', 'part_paths', 'changed_p', 'moved', 'gone', 'merged'] -%}
        {%- do run_query('drop table if exists ' ~ incremental_parquet__quote(tmp ~ name)) -%}
    {%- endfor -%}

    {{ log('incremental_parquet ' ~ this.identifier ~ ': ' ~ ('full refresh' if full_refresh else 'incremental')
        ~ ', ' ~ stats.delta ~ ' delta rows, ' ~ stats.changed ~ ' changed, '
        ~ stats.final ~ ' partitions written, ' ~ stats.phase1 ~ ' rewritten first without moved keys, '
        ~ stats.removed ~ ' removed, of ' ~ (inventory | length) ~ ' before, ' ~ stats.deleted
        ~ ' stored rows deleted; timings: read '
        ~ '%.3f' | format(timings.read) ~ 's compute ' ~ '%.3f' | format(timings.compute)
        ~ 's write ' ~ '%.3f' | format(timings.write) ~ 's swap ' ~ '%.3f' | format(timings.swap)
        ~ 's total ' ~ '%.3f' | format((clock.now() - started_at).total_seconds()) ~ 's', info=true) }}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do persist_docs(target_relation, model) %}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
