{#- What an incremental run of a mart recomputes (the `recompute.values` macros of the
    incremental_parquet models) and the clock its watermark comes from (`watermark`).
    A recompute macro gets `run` = {'since': the previous run's watermark minus the lookback
    (text, UTC) or none, 'stored': the relation of the mart's current snapshot, 'model': its
    name, 'upstream': {model: snapshot version it consumed last time}, 'upstream_columns':
    {model: the columns of it the mart reads} (its recompute.upstream_columns), 'report': a
    dict the macro may fill with figures of how it found the set, recorded as the run's
    recompute_report} and returns a SQL query of the values to recompute, or none to recompute
    every row. It runs when the mart is built, never when it is rendered. -#}

{#- The source's clock: PostgreSQL's statement time, held back to the start of the oldest
    transaction still open on the source (other than the warehouse's own sessions): a row that
    transaction writes carries an updated_at from its start (transaction time) and commits
    later, so the next run must look back to it. Without the pg_read_all_stats privilege the
    other sessions' start times are hidden, and the statement time is used (the lookback
    covers short transactions). -#}
{% macro source_clock() %}
    {%- set pg_sql -%}
        select least(
            statement_timestamp(),
            coalesce(
                (
                    select min(xact_start) from pg_stat_activity
                    where xact_start is not null and pid <> pg_backend_pid()
                        and datname = current_database() and usename is distinct from current_user
                ),
                'infinity'
            )
        ) as clock
    {%- endset -%}
    {{ return('select cast(clock as varchar) from postgres_query(' ~ chrono_pg_literal(pg_sql) ~ ')') }}
{% endmacro %}

{#- 'chrono_pg', <SQL text as a DuckDB literal>: the arguments of postgres_query(). -#}
{% macro chrono_pg_literal(pg_sql) -%}
    'chrono_pg', '{{ pg_sql | replace("'", "''") }}'
{%- endmacro %}

{#- A PostgreSQL condition: `column` changed since `since`, or holds a value no time
    comparison can place (NULL, infinity, -infinity): such rows are recomputed every run. -#}
{% macro changed_since_condition(column, since) -%}
    ({{ column }} >= '{{ since }}' or {{ column }} is null or {{ column }} = 'infinity' or {{ column }} = '-infinity')
{%- endmacro %}

{#- The ids of the source pages an incremental run of a page mart (cdx_records,
    content_analytics) rebuilds, given `run` (see above):
    - pages changed since the watermark (updated_at; NULL and infinite values every run), and
      every page of a domain or project changed since then (a moved domain, a renamed
      project: values the marts copy onto each page), found in PostgreSQL through its
      indexes (one union of index scans);
    - pages deleted from the source, pages missing from the mart and pages moved to another
      day, whatever their updated_at: the source's page count per day (UTC date of
      created_at, from its index) is compared with the mart's; for the days that differ
      only, the (id, day) pairs of both sides are read and every id of a pair on one side
      only is rebuilt (a deleted page: deleted from the mart; a page whose created_at moved
      between two of those days: rebuilt on its new day).
    NULL when the mart has no watermark yet (everything is rebuilt). -#}
{% macro page_ids_to_recompute(run) %}
    {%- if run.since is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set changed_pages -%}
        select id from scrape_pages where {{ changed_since_condition('updated_at', run.since) }}
        union
        select pages.id from scrape_pages as pages
        inner join domains on pages.domain_id = domains.id
        where {{ changed_since_condition('domains.updated_at', run.since) }}
        union
        select pages.id from scrape_pages as pages
        inner join domains on pages.domain_id = domains.id
        inner join projects on domains.project_id = projects.id
        where {{ changed_since_condition('projects.updated_at', run.since) }}
    {%- endset -%}
    {#- the source's pages per UTC day of created_at, counted by index range: the days that
        hold pages are found by a skip scan of the created_at index (one probe per day), each
        day's pages counted by an index-only range scan; a third of the time of a group by
        over the day of every row. A page has the day the marts' processing_date gives it:
        none (the NULL group) when its created_at is NULL, infinite or past DuckDB's range
        (source_timestamp), so that the counts of a mart that holds every page match. -#}
    {%- set last_instant = "timestamptz '" ~ duckdb_last_instant() ~ "'" -%}
    {%- set without_day = "(created_at is null or created_at = '-infinity' or created_at > " ~ last_instant ~ ")" -%}
    {%- set source_days -%}
        with recursive days (day_start) as (
            select date_trunc('day', min(created_at), 'UTC') from scrape_pages
            where created_at > '-infinity' and created_at <= {{ last_instant }}
            union all
            select (
                select date_trunc('day', min(created_at), 'UTC') from scrape_pages
                where created_at >= days.day_start + interval '24 hours' and created_at <= {{ last_instant }}
            )
            from days where days.day_start is not null
        )
        select
            (day_start at time zone 'UTC')::date as day,
            (
                select count(*) from scrape_pages
                where created_at >= day_start and created_at < day_start + interval '24 hours'
                    and created_at <= {{ last_instant }}
            ) as pages
        from days where day_start is not null
        union all
        select null, count(*) from scrape_pages where {{ without_day }}
        having count(*) > 0
    {%- endset -%}
    {%- set differing_days = run_query(
        'select cast(coalesce(source_days.day, mart_days.day) as varchar) from (select * from postgres_query(' ~ chrono_pg_literal(source_days) ~ ')) as source_days'
        ~ ' full outer join (select processing_date as day, count(*) as pages from ' ~ run.stored ~ ' group by 1) as mart_days'
        ~ ' on source_days.day is not distinct from mart_days.day where source_days.pages is distinct from mart_days.pages'
    ).columns[0].values() | list -%}
    {%- do run.get('report', {}).update({'days_with_other_page_counts': differing_days | length}) -%}
    {%- set ids = 'select id from postgres_query(' ~ chrono_pg_literal(changed_pages) ~ ')' -%}
    {%- set backfill = backfill_range() -%}
    {%- if backfill is not none -%}
        {#- chrono-analytics backfill: every page created in the range, and every page the mart
            holds for it (those the source lost are deleted) -#}
        {%- set in_range = "created_at >= timestamptz '" ~ backfill['from'] ~ " 00:00:00+00' and created_at < timestamptz '"
            ~ backfill['to'] ~ " 00:00:00+00' + interval '24 hours'" -%}
        {%- set ids = ids ~ ' union select id from postgres_query(' ~ chrono_pg_literal('select id from scrape_pages where ' ~ in_range)
            ~ ') union select scrape_page_id from ' ~ run.stored ~ " where processing_date between date '" ~ backfill['from']
            ~ "' and date '" ~ backfill['to'] ~ "'" -%}
    {%- endif -%}
    {%- if differing_days -%}
        {%- set ranges, mart_days = [], [] -%}
        {%- for day in differing_days -%}
            {%- if day is none -%}
                {%- do ranges.append(without_day) -%}
                {%- do mart_days.append('processing_date is null') -%}
            {%- else -%}
                {%- set day_start = "timestamptz '" ~ day ~ " 00:00:00+00'" -%}
                {%- do ranges.append('(created_at >= ' ~ day_start ~ ' and created_at < ' ~ day_start
                    ~ " + interval '24 hours' and created_at <= " ~ last_instant ~ ')') -%}
                {%- do mart_days.append("processing_date = date '" ~ day ~ "'") -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set source_day = 'case when ' ~ without_day ~ " then null else (created_at at time zone 'UTC')::date end" -%}
        {%- set source_pages = 'select id, day from postgres_query(' ~ chrono_pg_literal(
            'select id, ' ~ source_day ~ ' as day from scrape_pages where ' ~ (ranges | join(' or '))) ~ ')' -%}
        {%- set mart_pages = 'select scrape_page_id as id, processing_date as day from ' ~ run.stored
            ~ ' where ' ~ (mart_days | join(' or ')) -%}
        {%- set ids = ids ~ ' union select id from ((' ~ source_pages ~ ' except ' ~ mart_pages
            ~ ') union (' ~ mart_pages ~ ' except ' ~ source_pages ~ '))' -%}
    {%- endif -%}
    {{ return(ids) }}
{% endmacro %}

{#- The ids of domains and projects changed since `since` (PostgreSQL), as two DuckDB queries:
    {'domains': ..., 'projects': ...}. -#}
{% macro changed_domains_and_projects(since) %}
    {{ return({
        'domains': 'select id from postgres_query(' ~ chrono_pg_literal(
            'select id from domains where ' ~ changed_since_condition('updated_at', since)) ~ ')',
        'projects': 'select id from postgres_query(' ~ chrono_pg_literal(
            'select id from projects where ' ~ changed_since_condition('updated_at', since)) ~ ')',
    }) }}
{% endmacro %}

{#- The values of `column` that the upstream incremental_parquet model `upstream` changed
    since the snapshot the current model consumed last (`run.upstream`), up to the snapshot
    the current run reads: its change feed. When the current model declares the columns of
    `upstream` it reads (recompute.upstream_columns), only the values of rows inserted,
    deleted or changed in one of them (or in `column`'s own) count. None when the feed cannot
    tell (the current model never consumed it, or the snapshots in between are gone):
    recompute everything. -#}
{% macro upstream_changes(run, upstream, column) %}
    {%- set consumed = run.upstream.get(upstream) -%}
    {%- set reading = incremental_parquet__upstream_versions().get(upstream) -%}
    {%- if consumed is none or reading is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set node = [] -%}
    {%- for candidate in graph.nodes.values() if candidate.resource_type == 'model' and candidate.alias == upstream -%}
        {%- do node.append(candidate) -%}
    {%- endfor -%}
    {%- set feed = incremental_parquet__call('changes_since', {
        'column': column, 'after_version': consumed, 'upto_version': reading,
        'columns_read': run.get('upstream_columns', {}).get(upstream), 'reader': run.model},
        cfg=node[0].config, identifier=upstream) -%}
    {{ return(feed['values']) }}
{% endmacro %}

{#- A SQL query of one column `value` holding `values` (a list of date strings, numbers or
    NULL) cast to `data_type`, for a recompute macro: one JSON literal unnested, so a change
    feed of 50,000 values is one short statement (no row of SQL per value), and a value that is
    not of the type fails the cast with DuckDB's message naming it. -#}
{% macro values_query(values, data_type) %}
    {{ return('select cast(unnest(from_json(' ~ incremental_parquet__literal(tojson(values))
        ~ ", '[\"varchar\"]')) as " ~ data_type ~ ') as value') }}
{% endmacro %}

{#- The processing days project_analytics recomputes: the days content_analytics changed
    since project_analytics last read it (its change feed: changed, moved and deleted pages),
    and the days holding pages of a domain or project changed since its watermark (names,
    statuses and archive sources it copies). None (everything) when the feed cannot tell. -#}
{% macro project_days_to_recompute(run) %}
    {{ return(days_changed_upstream(run, {'content_analytics': 'processing_date'}, include_domain_changes=true)) }}
{% endmacro %}

{#- The processing days a reporting model over content_analytics recomputes: the days its
    change feed names. -#}
{% macro content_days_to_recompute(run) %}
    {{ return(days_changed_upstream(run, {'content_analytics': 'processing_date'})) }}
{% endmacro %}

{#- The processing days a reporting model over content_analytics and project_analytics
    recomputes: the days either change feed names (project_analytics' feed also holds the days
    of projects and domains changed in the source), read from the lake only, so the model
    builds without the source. -#}
{% macro project_days_changed_in_lake(run) %}
    {{ return(days_changed_upstream(run, {
        'content_analytics': 'processing_date', 'project_analytics': 'analytics_date'})) }}
{% endmacro %}

{#- The values the marts `upstreams` ({model: a record_changes column of it}) changed since
    the current model last read them (their change feeds), without repeats; None when a feed
    cannot tell. -#}
{% macro feeds_upstream(run, upstreams) %}
    {%- set values = [] -%}
    {%- for upstream, column in upstreams.items() -%}
        {%- set changed = upstream_changes(run, upstream, column) -%}
        {%- if changed is none -%}
            {{ return(none) }}
        {%- endif -%}
        {%- do values.extend(changed) -%}
    {%- endfor -%}
    {{ return(values | unique | list) }}
{% endmacro %}

{#- The (domain, archive month) groups domain_archive_monthly recomputes, as structs
    {'domain', 'archive_month_start'}: the groups of the cdx_records rows changed, moved or
    deleted since it last read them (cdx_records' change feed holds each such row's domain and
    archive_date, old and new), and the groups of the cdx_records rows, in the snapshot this
    run reads, whose content_analytics row changed (its feed holds their cdx_record_id; a
    content row counts in its cdx row's group). None (everything) when a feed cannot tell, and
    during a backfill, whose range names days. -#}
{% macro domain_months_changed_in_lake(run) %}
    {%- set records = upstream_changes(run, 'cdx_records', 'domain+archive_date') -%}
    {%- set contents = upstream_changes(run, 'content_analytics', 'cdx_record_id') -%}
    {%- if records is none or contents is none or backfill_range() is not none -%}
        {{ return(none) }}
    {%- endif -%}
    {#- the feeds go to DuckDB as JSON (a Jinja loop over 10,000 values costs most of a second) -#}
    {%- set records_sql = "select changed.domain, changed.archive_date from (select unnest(from_json("
        ~ incremental_parquet__literal(tojson(records)) ~ ", '[{\"domain\": \"VARCHAR\", \"archive_date\": \"DATE\"}]')) as changed)" -%}
    {%- set contents_sql = 'select domain, archive_date from ' ~ ref('cdx_records') ~ ' where record_id in ('
        ~ values_query(contents, 'bigint') ~ ')' -%}
    {%- set sources = [records_sql, contents_sql] -%}
    {{ return("select distinct {'domain': domain, 'archive_month_start': cast(date_trunc('month', archive_date) as date)}"
        ~ ' as value from (' ~ (sources | join(' union all ')) ~ ') as changed_records') }}
{% endmacro %}

{#- The domains domain_archive_summary recomputes: those domain_archive_monthly changed. -#}
{% macro domains_changed_monthly(run) %}
    {{ return(domains_changed_upstream(run, {'domain_archive_monthly': 'domain'})) }}
{% endmacro %}

{#- A recompute set of domains from the change feeds of `upstreams` ({model: its domain
    column}); None when a feed cannot tell or a backfill runs. -#}
{% macro domains_changed_upstream(run, upstreams) %}
    {%- set domains = feeds_upstream(run, upstreams) -%}
    {%- if domains is none or backfill_range() is not none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(values_query(domains, 'varchar')) }}
{% endmacro %}

{#- The days the marts `upstreams` ({model: its day column}) changed (their change feeds),
    plus, with include_domain_changes, the days holding pages of domains or projects changed
    since run.since (this reads the source). None when a feed cannot tell. -#}
{% macro days_changed_upstream(run, upstreams, include_domain_changes=false) %}
    {%- set days = feeds_upstream(run, upstreams) -%}
    {%- if days is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set query = values_query(days, 'date') -%}
    {%- set backfill = backfill_range() -%}
    {%- if backfill is not none -%}
        {%- set query = query ~ " union select cast(range as date) from range(date '" ~ backfill['from']
            ~ "', date '" ~ backfill['to'] ~ "' + interval 1 day, interval 1 day)" -%}
    {%- endif -%}
    {%- if include_domain_changes -%}
        {%- if run.since is none -%}
            {{ return(none) }}
        {%- endif -%}
        {%- set changed = changed_domains_and_projects(run.since) -%}
        {%- set query = query ~ ' union select processing_date from ' ~ ref('content_analytics')
            ~ ' where domain_id in (' ~ changed.domains ~ ') or project_id in (' ~ changed.projects ~ ')' -%}
    {%- endif -%}
    {{ return(query) }}
{% endmacro %}

{#- The local clock (DuckDB's now()): the watermark of the events mart, whose source is the
    raw events lake the loaders write on this machine. -#}
{% macro local_clock() %}
    {{ return('select cast(now() as varchar)') }}
{% endmacro %}

{#- The events the events mart rebuilds: those accepted (created_at) since the watermark. The
    loaders stamp created_at when they accept an event and write its file within their flush
    interval, well inside the lookback. None before the first watermark. -#}
{% macro event_ids_to_recompute(run) %}
    {%- if run.since is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set backfill = backfill_range() -%}
    {%- set in_range = " or event_date between date '" ~ backfill['from'] ~ "' and date '" ~ backfill['to'] ~ "'"
        if backfill is not none else '' -%}
    {{ return("select event_id from " ~ ref('stg_events') ~ " where created_at >= timestamptz '" ~ run.since
        ~ "' or created_at is null or not isfinite(created_at)" ~ in_range) }}
{% endmacro %}

{#- The date range of `chrono-analytics backfill` (--vars '{backfill: {from: YYYY-MM-DD, to:
    YYYY-MM-DD}}'): {'from', 'to'} as ISO dates, or none. The recompute macros rebuild every
    row of the range besides the changes they find: a repair of the source whose rows kept
    their updated_at reaches the marts. -#}
{% macro backfill_range() %}
    {%- set raw = var('backfill', none) -%}
    {%- if raw is none or raw == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set found = {} -%}
    {%- for key in ['from', 'to'] -%}
        {%- set value = (raw.get(key) if raw is mapping else none) | string -%}
        {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', value) -%}
            {{ exceptions.raise_compiler_error("var backfill needs {from: YYYY-MM-DD, to: YYYY-MM-DD}, got " ~ raw) }}
        {%- endif -%}
        {%- do found.update({key: value}) -%}
    {%- endfor -%}
    {%- if found['from'] > found['to'] -%}
        {{ exceptions.raise_compiler_error('var backfill: from ' ~ found['from'] ~ ' is after to ' ~ found['to']) }}
    {%- endif -%}
    {{ return(found) }}
{% endmacro %}

{#- The event days a reporting model over the events mart recomputes: the days its change
    feed names. -#}
{% macro event_days_to_recompute(run) %}
    {%- set changed = upstream_changes(run, 'events', 'event_date') -%}
    {{ return(none if changed is none else values_query(changed, 'date')) }}
{% endmacro %}
