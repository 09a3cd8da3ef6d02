"""The dbt build over a real PostgreSQL: staging relations match the source row for row."""

from __future__ import annotations

import csv
from pathlib import Path

from chrono_analytics.source_db import SOURCE_TABLES
from warehouse_helpers import PROJECT_ROOT, Warehouse, reference_wayback

STAGING_KEYS = {
    "users": ("stg_chrono__users", "user_id"),
    "projects": ("stg_chrono__projects", "project_id"),
    "domains": ("stg_chrono__domains", "domain_id"),
    "scrape_sessions": ("stg_chrono__scrape_sessions", "scrape_session_id"),
    "scrape_pages": ("stg_chrono__scrape_pages", "scrape_page_id"),
}


def test_every_source_table_has_one_staging_model() -> None:
    assert set(STAGING_KEYS) == set(SOURCE_TABLES)


def test_staging_rows_equal_source_rows(built_warehouse: Warehouse) -> None:
    with built_warehouse.connect() as conn:
        for table, (model, key) in STAGING_KEYS.items():
            source_ids = conn.execute(
                f"select count(*), count(distinct id) from chrono_pg.public.{table}"
            ).fetchone()
            staged_ids = conn.execute(
                f"select count(*), count(distinct {key}) from staging.{model}"
            ).fetchone()
            assert source_ids == staged_ids, table
            assert source_ids is not None and source_ids[0] > 0, table


def test_wayback_timestamps_parse_like_python(built_warehouse: Warehouse) -> None:
    """Cross-check the SQL parser against Python's strptime on every distinct source value."""
    with built_warehouse.connect() as conn:
        rows = conn.execute(
            "select distinct wayback_timestamp, archived_at from staging.stg_chrono__scrape_pages"
        ).fetchall()
    assert len(rows) > 1000
    malformed = [raw for raw, parsed in rows if parsed is None]
    assert malformed, "the synthetic data must contain malformed Wayback timestamps"
    for raw, parsed in rows:
        assert reference_wayback(raw) == parsed, raw


def test_the_seeds_load_from_a_project_folder_whose_name_holds_a_quote(
    shared_source_dsn: str, tmp_path: Path
) -> None:
    """The on-run-start hook that loads the seeds into a fresh DuckDB file reads each CSV under
    the folder dbt runs the project from: a name with a quote in it (a checkout under
    /home/o'neil) is quoted in the SQL, not cut short."""
    checkout = tmp_path / "o'neil's checkout"
    checkout.symlink_to(PROJECT_ROOT)
    warehouse = Warehouse(shared_source_dsn, tmp_path / "fresh.duckdb", tmp_path / "lake")
    warehouse.dbt(
        "run",
        "--select",
        "stg_chrono__users",
        project_dir=checkout,
        extra_env={"DBT_TARGET_PATH": str(tmp_path / "target")},
    )
    with open(PROJECT_ROOT / "seeds" / "archive_hosts.csv", newline="") as handle:
        expected = list(csv.DictReader(handle))
    with warehouse.connect(attach_source=False) as conn:
        stored = conn.execute("select count(*) from seeds.archive_hosts").fetchone()
    assert stored == (len(expected),)
