"""Incremental runs of the page marts against a from-scratch build of the same source.

A project renamed (with its archive_source switched) and a domain moved to that project change
values the marts copy onto every page of them, though no page row changed; pages deleted from
the source (some from a busy day, every page of another day) leave groups and days behind in
project_analytics. An incremental run must carry all of it, and then hold what a build from
nothing holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg2

from warehouse_helpers import Warehouse, admin_dsn, run_summary

KEYS = {
    "cdx_records": "record_id",
    "content_analytics": "content_id",
    "project_analytics": "analytics_id",
}


def build_from_nothing(dsn: str, folder: Path) -> Warehouse:
    warehouse = Warehouse(dsn, folder / "chrono.duckdb", folder / "lake")
    warehouse.dbt("seed")
    warehouse.dbt("run", "--select", "+marts")
    return warehouse


def mart_rows(warehouse: Warehouse, mart: str, where: str = "true") -> list[tuple[Any, ...]]:
    with warehouse.connect(attach_source=False) as conn:
        return conn.execute(
            f"select * from marts.{mart} where {where} order by {KEYS[mart]}"
        ).fetchall()


def test_a_renamed_project_and_a_moved_domain_reach_every_page_incrementally(
    make_source_db: Any, tmp_path: Path
) -> None:
    dsn = make_source_db(pages=3_000, seed=31)
    incremental = build_from_nothing(dsn, tmp_path / "incremental")

    with psycopg2.connect(admin_dsn(dsn)) as conn, conn.cursor() as cur:
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
        cur.execute("select max(updated_at) + interval '1 minute' from scrape_pages")
        (stamp,) = cur.fetchone()
        cur.execute(
            "update projects set name = 'Renamed project', updated_at = %s, archive_source = "
            "case archive_source when 'wayback' then 'commoncrawl' else 'wayback' end "
            "where id = %s",
            (stamp, project),
        )
        cur.execute(
            "update domains set project_id = %s, updated_at = %s where id = %s",
            (project, stamp, moved_domain),
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

    result = incremental.dbt("run", "--select", "marts")
    for mart in KEYS:
        summary = run_summary(result, mart)
        assert "incremental," in summary and " 0 stored rows deleted" not in summary, summary

    scratch = build_from_nothing(dsn, tmp_path / "scratch")
    for mart in KEYS:
        assert mart_rows(incremental, mart) == mart_rows(scratch, mart), mart
    assert mart_rows(incremental, "cdx_records", f"domain_id = {moved_domain}")
    assert not mart_rows(incremental, "project_analytics", f"analytics_date = '{emptied_day}'")
    renamed = f"project_id = {project}"
    with incremental.connect(attach_source=False) as conn:
        names = conn.execute(
            f"select distinct project_name from marts.project_analytics where {renamed}"
        ).fetchall()
    assert names == [("Renamed project",)]
