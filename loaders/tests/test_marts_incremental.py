"""Incremental runs of the marts against a from-scratch build of the same source.

Everything a hostile or broken source does at once: a project renamed (its archive_source
switched) and a domain moved, values the marts copy onto every page of them; pages deleted
(some from a busy day, every page of another day); updated_at far in the future, infinite,
NULL and backdated; created_at NULL and infinite; timestamps past DuckDB's range (PostgreSQL's
last instant); a page moved to another day with an old updated_at; a page whose domain_id
became NULL; a URL of 2,000,000 path segments. An
incremental run must carry all of it and then hold, row by row, what a build from nothing
holds; a rerun without change writes no file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from chrono_analytics.lake.reader import Lake
from warehouse_helpers import PROJECT_ROOT, Warehouse, admin_dsn, target_folder

MARTS = {
    "cdx_records": "record_id",
    "content_analytics": "content_id",
    "project_analytics": "analytics_id",
    "content_quality_daily": "processing_date, quality_bucket_rank",
    "domain_archive_monthly": "domain, domain_category, archive_month_start",
    "domain_archive_summary": "domain, domain_category",
    "project_performance_daily": "analytics_date, project_id",
    "project_activity_daily": "analytics_date, project_id, member_kind, member_id",
    "performance_daily": "analytics_date",
    "project_members": "project_id, member_kind, member_id",
}


def build_from_nothing(dsn: str, folder: Path) -> Warehouse:
    warehouse = Warehouse(dsn, folder / "chrono.duckdb", folder / "lake")
    warehouse.dbt("seed")
    warehouse.dbt("run", "--select", "+marts")
    return warehouse


def mart_rows(warehouse: Warehouse, mart: str, where: str = "true") -> list[tuple[Any, ...]]:
    with Lake(warehouse.lake_root).connect() as conn:
        return conn.execute(f"select * from {mart} where {where} order by {MARTS[mart]}").fetchall()


def data_files(warehouse: Warehouse) -> dict[str, int]:
    return {
        str(p.relative_to(warehouse.lake_root)): p.stat().st_mtime_ns
        for p in warehouse.lake_root.rglob("*.parquet")
        if "_chrono" not in p.parts and "raw" not in p.parts
    }


def test_a_hostile_source_reaches_every_mart_incrementally(
    make_source_db: Any, tmp_path: Path
) -> None:
    dsn = make_source_db(pages=3_000, seed=31)
    incremental = build_from_nothing(dsn, tmp_path / "incremental")
    watermark = Lake(incremental.lake_root).snapshot("cdx_records").watermark  # type: ignore[union-attr]

    with psycopg2.connect(admin_dsn(dsn)) as conn, conn.cursor() as cur:
        cur.execute(
            "alter table scrape_pages alter column updated_at drop not null, "
            "alter column created_at drop not null, alter column domain_id drop not null"
        )
        cur.execute(
            "select domains.id, domains.project_id from domains "
            "join scrape_pages on scrape_pages.domain_id = domains.id "
            "group by 1, 2 order by count(*) desc, 1 limit 1"
        )
        moved_domain, old_project = cur.fetchone()
        cur.execute(
            "select domains.project_id from domains "
            "join scrape_pages on scrape_pages.domain_id = domains.id "
            "where domains.project_id <> %s group by 1 order by count(*) desc, 1 limit 1",
            (old_project,),
        )
        (project,) = cur.fetchone()
        cur.execute(
            "update projects set name = 'Renamed project', updated_at = now(), archive_source = "
            "case archive_source when 'wayback' then 'commoncrawl' else 'wayback' end "
            "where id = %s",
            (project,),
        )
        cur.execute(
            "update domains set project_id = %s, updated_at = now() where id = %s",
            (project, moved_domain),
        )
        # pages deleted: one of the busiest day (it keeps others), every page of the quietest
        cur.execute(
            "select (created_at at time zone 'UTC')::date from scrape_pages "
            "group by 1 order by count(*) desc, 1 limit 1"
        )
        (busy_day,) = cur.fetchone()
        cur.execute(
            "select (created_at at time zone 'UTC')::date from scrape_pages "
            "group by 1 order by count(*), 1 limit 1"
        )
        (emptied_day,) = cur.fetchone()
        cur.execute(
            "delete from scrape_pages where id in (select id from scrape_pages "
            "where (created_at at time zone 'UTC')::date = %s order by id limit 1) "
            "or (created_at at time zone 'UTC')::date = %s",
            (busy_day, emptied_day),
        )
        assert cur.rowcount >= 2
        # pages outside the moved domain and the two projects concerned, so that nothing else
        # makes the incremental run rebuild them
        cur.execute(
            "select scrape_pages.id from scrape_pages join domains "
            "on scrape_pages.domain_id = domains.id "
            "where domains.project_id not in (%s, %s) order by scrape_pages.id limit 17",
            (project, old_project),
        )
        ids = [row[0] for row in cur.fetchall()]
        hostile = [
            "updated_at = '9999-12-31', status = 'failed'",
            "updated_at = 'infinity', retry_count = 7",
            "updated_at = null, status = 'completed'",
            # a writer whose clock is 20 minutes behind: older than the last run's watermark,
            # inside the lookback (an older one is read only when its transaction was still
            # open during that run, see test_incremental_parquet)
            f"updated_at = timestamptz '{watermark}' - interval '20 minutes', status = 'retry'",
            "created_at = null, updated_at = now()",
            "created_at = 'infinity', updated_at = now()",
            "created_at = '0100-01-01 BC', updated_at = now()",
            "domain_id = null, updated_at = now()",
            "original_url = 'https://x.org/' || repeat('a/', 2000000), updated_at = now()",
            "fetch_time = 'NaN', extraction_time = 1e300, updated_at = now()",
            "status_code = 99999, priority_score = 40000, updated_at = now()",
            # a quote in the host: the domain marts' recompute set, written into their
            # filters as SQL literals, holds it
            "original_url = 'https://o''brien.example.org/a', updated_at = now()",
            # PostgreSQL's last instant, past DuckDB's timestamp range
            "created_at = '294276-12-31 23:59:59.999999+00', updated_at = now()",
            "updated_at = '294276-12-31 23:59:59.999999+00', status = 'pending'",
            # and its first instant, which DuckDB holds
            "created_at = '4713-11-24 00:00:00+00 BC', updated_at = now()",
            # moved to another day by a fix that left updated_at as it was, long before the
            # watermark: both days' counts differ, and the page is on each side of them
            "created_at = created_at - interval '3 days', updated_at = '2001-01-01 00:00:00+00'",
            # and moved past DuckDB's range the same way: from its day to no day in the marts
            "created_at = '294250-06-01 00:00:00+00', updated_at = '2001-01-01 00:00:00+00'",
        ]
        for page_id, assignment in zip(ids, hostile, strict=True):
            cur.execute(f"update scrape_pages set {assignment} where id = %s", (page_id,))
        cur.execute(
            "select (created_at at time zone 'UTC')::date from scrape_pages where id = %s",
            (ids[15],),
        )
        (moved_day,) = cur.fetchone()
        # an insert stamped in the past (a backfill): found by the per-day count check
        cur.execute(
            "insert into scrape_pages (id, domain_id, original_url, unix_timestamp, status, "
            "created_at, updated_at) values (900001, %s, 'https://late.example.org/', "
            "'20100101000000', 'completed', '2023-03-03 03:03:03+00', '2001-01-01 00:00:00+00')",
            (moved_domain,),
        )

    incremental.dbt("run", "--select", "marts")
    lake = Lake(incremental.lake_root)
    for mart in MARTS:
        snapshot = lake.snapshot(mart)
        assert snapshot is not None and snapshot.run["mode"] == "incremental", mart
    # the days that lost or gained pages: the busy and the emptied day, the insert stamped in
    # the past, the pages whose created_at became NULL, infinite, 100 BC or 294276 AD (their
    # old and new days)
    report = lake.snapshot("cdx_records").run["recompute_report"]  # type: ignore[union-attr]
    assert report["days_with_other_page_counts"] >= 6, report
    # the domain marts recompute what the page marts' change feeds name, not everything:
    # domain_archive_monthly its (domain, archive month) groups, domain_archive_summary domains
    groups = lake.query("select count(*) from domain_archive_monthly")[0][0]
    domains = len(lake.query("select distinct domain from domain_archive_summary"))
    for mart, total in (("domain_archive_monthly", groups), ("domain_archive_summary", domains)):
        recomputed = lake.snapshot(mart).run["recompute_values"]  # type: ignore[union-attr]
        assert recomputed is not None and 0 < recomputed < total / 2, (mart, recomputed, total)
    # the marts that read another mart through a common table expression used twice (or join
    # two) take the recompute filter into those reads (recomputed_input), not only their output
    narrowed = {
        "project_analytics": 1,
        "project_activity_daily": 1,
        "project_performance_daily": 2,
        "domain_archive_monthly": 2,
    }
    for mart, markers in narrowed.items():
        assert lake.snapshot(mart).run["narrowed_inputs"] == markers, mart  # type: ignore[union-attr]

    scratch = build_from_nothing(dsn, tmp_path / "scratch")
    for mart in MARTS:
        assert mart_rows(incremental, mart) == mart_rows(scratch, mart), mart
    assert mart_rows(incremental, "cdx_records", f"domain_id = {moved_domain}")
    assert mart_rows(incremental, "cdx_records", "record_id = 900001")
    assert not mart_rows(incremental, "project_analytics", f"analytics_date = '{emptied_day}'")
    assert mart_rows(incremental, "cdx_records", f"record_id = {ids[7]} and domain_id is null")
    assert mart_rows(incremental, "cdx_records", f"record_id = {ids[8]} and url_depth is null")
    assert mart_rows(incremental, "domain_archive_monthly", "domain = 'o''brien.example.org'")
    assert mart_rows(
        incremental, "cdx_records", f"record_id = {ids[15]} and processing_date = '{moved_day}'"
    )
    assert mart_rows(
        incremental, "cdx_records", f"record_id = {ids[16]} and processing_date is null"
    )
    names = {
        row[5] for row in mart_rows(incremental, "project_analytics", f"project_id = {project}")
    }
    assert names == {"Renamed project"}

    # values past DuckDB's timestamps (which its postgres scanner wraps around to ~290000 BC)
    # are NULL in the marts, not a wrong date
    assert mart_rows(incremental, "cdx_records", f"record_id = {ids[12]} and created_at is null")
    assert mart_rows(incremental, "cdx_records", f"record_id = {ids[13]} and updated_at is null")
    assert mart_rows(
        incremental, "cdx_records", f"record_id = {ids[14]} and year(processing_date) = -4712"
    )

    # the implausible rows are counted by warn-level tests, not errors
    tested = incremental.dbt(
        "test", "--select", "stg_chrono__scrape_pages", "source:chrono.scrape_pages", check=False
    )
    assert "implausible" in tested.stdout and " WARN " in tested.stdout, tested.stdout[-3000:]
    compiled = target_folder(PROJECT_ROOT, ()) / "compiled" / "chrono_analytics" / "tests"
    warned = (
        compiled / "staging" / "warn_scrape_pages_with_implausible_timestamps.sql"
    ).read_text()
    with incremental.connect() as conn:
        reasons = dict(conn.execute(f"select * from ({warned})").fetchall())
    assert reasons[ids[12]] == "created_at is past DuckDB's range (294247-01-10), loaded as NULL"
    assert reasons[ids[13]] == "updated_at is past DuckDB's range (294247-01-10), loaded as NULL"
    assert reasons[ids[4]] == "created_at is NULL"

    # a rerun without change writes no data file
    before = data_files(incremental)
    incremental.dbt("run", "--select", "marts")
    assert data_files(incremental) == before
    for mart in MARTS:
        assert lake.snapshot(mart).run["files_written"] == 0, mart  # type: ignore[union-attr]
    for mart in ("domain_archive_monthly", "domain_archive_summary"):
        assert lake.snapshot(mart).run["recompute_values"] == 0, mart  # type: ignore[union-attr]
    # and every day's page count matches: the pages past DuckDB's range count on no day
    # (their created_at is NULL in the marts) on both sides, so no day's ids are read again
    for mart in ("cdx_records", "content_analytics"):
        report = lake.snapshot(mart).run["recompute_report"]  # type: ignore[union-attr]
        assert report["days_with_other_page_counts"] == 0, (mart, report)

    # pages whose status and retry count alone changed, the commonest update: the reporting
    # marts that read neither (recompute.upstream_columns) recompute nothing, those that do
    # recompute their days; one page's content length (which domain_archive_monthly sums)
    # recomputes that page's group alone. Each then holds what a full refresh of it holds.
    with psycopg2.connect(admin_dsn(dsn)) as conn, conn.cursor() as cur:
        cur.execute(
            "update scrape_pages set retry_count = retry_count + 1, updated_at = now(), "
            "status = case when status = 'failed' then 'completed' else 'failed' end "
            "where id in (select id from scrape_pages where created_at < 'infinity' "
            "and domain_id is not null order by id limit 40)"
        )
    incremental.dbt("run", "--select", "marts")
    recomputed = {
        mart: lake.snapshot(mart).run["recompute_values"]  # type: ignore[union-attr]
        for mart in MARTS
    }
    for mart in ("domain_archive_monthly", "content_quality_daily", "project_activity_daily"):
        assert recomputed[mart] == 0, recomputed
    assert recomputed["project_analytics"] > 0 and recomputed["cdx_records"] >= 40, recomputed
    with psycopg2.connect(admin_dsn(dsn)) as conn, conn.cursor() as cur:
        cur.execute(
            "update scrape_pages set content_length = coalesce(content_length, 0) + 1000, "
            "updated_at = now() where id = %s",
            (ids[0],),
        )
    incremental.dbt("run", "--select", "marts")
    assert lake.snapshot("domain_archive_monthly").run["recompute_values"] == 1  # type: ignore[union-attr]
    reporting = ("domain_archive_monthly", "content_quality_daily", "project_activity_daily")
    kept = {mart: mart_rows(incremental, mart) for mart in reporting}
    incremental.dbt("run", "--full-refresh", "--select", *reporting)
    for mart in reporting:
        assert kept[mart] == mart_rows(incremental, mart), mart


def test_a_mart_reads_no_upstream_column_its_upstream_columns_leave_out(
    built_warehouse: Warehouse,
) -> None:
    """recompute.upstream_columns names the columns of an upstream mart a model reads: rows
    changed in other columns only are not recomputed. A model that came to read one more
    column without naming it would miss its changes. So each such model's query, run with
    every other column of its upstream marts NULL, must give the rows it gives on the real
    marts."""
    target = target_folder(PROJECT_ROOT, ())
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    declared = {
        node["name"]: (node["original_file_path"], node["config"]["recompute"]["upstream_columns"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and (node["config"].get("recompute") or {}).get("upstream_columns")
    }
    assert {"domain_archive_monthly", "content_quality_daily"} <= declared.keys(), declared
    compiled = target / "compiled" / "chrono_analytics"
    with built_warehouse.connect(attach_source=False) as conn:
        for model, (path, upstream_columns) in declared.items():
            sql = (compiled / path).read_text(encoding="utf-8")
            expected = conn.execute(f"select * from ({sql}) order by all").fetchall()
            assert expected, model  # rows to compare
            for upstream, read in upstream_columns.items():
                nulled = [
                    f"cast(null as {kind}) as {name}"
                    for name, kind, *_ in conn.execute(f"describe marts.{upstream}").fetchall()
                    if name not in read
                ]
                assert nulled, (model, upstream)
                conn.execute(
                    f"create or replace temp table read_of_{upstream} as select * replace "
                    f"({', '.join(nulled)}) from marts.{upstream}"
                )
                relation = f'"chrono"."marts"."{upstream}"'
                assert relation in sql, (model, relation)
                sql = sql.replace(relation, f"read_of_{upstream}")
            got = conn.execute(f"select * from ({sql}) order by all").fetchall()
            assert got == expected, model


@pytest.mark.parametrize("mart", ["cdx_records", "content_analytics"])
def test_an_incremental_run_reads_only_the_changed_pages_from_postgresql(
    built_warehouse: Warehouse, mart: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """Cost follows the delta only while DuckDB sends the recompute filter to PostgreSQL. An
    incremental run filters the mart's query on the ids it recomputes (`scrape_page_id in
    (...)`, recompute.inline) with the parallel scan by ctid ranges off (the marts' pre-hook);
    that filter must pass through every view under the mart into the query on scrape_pages.
    A change to those views that stopped it would keep every row right and make every run
    read the whole table, which only a benchmark would show. (With the scanner's filter
    pushdown switched off, this test fails: the query on scrape_pages has no WHERE.)"""
    compiled = target_folder(PROJECT_ROOT, ()) / "compiled" / "chrono_analytics" / "models"
    sql = (compiled / "marts" / f"{mart}.sql").read_text(encoding="utf-8")
    with built_warehouse.connect() as conn:
        # ids far apart: DuckDB sends consecutive ids as a range, which would prove nothing
        every_id = [
            row[0]
            for row in conn.execute(
                "select id from chrono_pg.public.scrape_pages order by id"
            ).fetchall()
        ]
        ids = [every_id[0], every_id[len(every_id) // 2], every_id[-1]]
        in_list = ", ".join(str(i) for i in ids)
        conn.execute("set pg_use_ctid_scan = false")
        conn.execute("set pg_debug_show_queries = true")  # prints each query it sends
        capfd.readouterr()
        rows = conn.execute(
            f"select scrape_page_id from ({sql}) as m where scrape_page_id in ({in_list})"
        ).fetchall()
        captured = capfd.readouterr()
        sent = captured.out + captured.err
    assert sorted(row[0] for row in rows) == sorted(ids)
    page_queries = [line for line in sent.splitlines() if '"scrape_pages"' in line]
    assert page_queries, sent[-2000:]
    quoted = ", ".join(f"'{i}'" for i in sorted(ids))
    for query in page_queries:  # every query on the table carries the ids, not a scan of it
        assert f'"id" IN ({quoted})' in query, query
