"""The analysts' command, exactly as typed, from a DuckDB file and a lake with nothing built."""

from __future__ import annotations

from pathlib import Path

from chrono_analytics.lake.reader import Lake
from warehouse_helpers import Warehouse


def test_dbt_build_select_marts_works_from_nothing(shared_source_dsn: str, tmp_path: Path) -> None:
    warehouse = Warehouse(shared_source_dsn, tmp_path / "chrono.duckdb", tmp_path / "lake")
    result = warehouse.dbt("build", "--select", "marts")
    assert "ERROR=0" in result.stdout
    with warehouse.connect() as conn:
        pages = conn.execute("select count(*) from chrono_pg.public.scrape_pages").fetchone()
        for mart in ("cdx_records", "content_analytics"):
            rows = conn.execute(f"select count(*) from marts.{mart}").fetchone()
            assert rows == pages, mart
        levels = conn.execute(
            "select count(distinct aggregation_level) from marts.project_analytics"
        ).fetchone()
        assert levels == (3,)
    # a rerun without source change, with a lookback of 30 days (a few percent of the pages),
    # recomputes them and must find every recomputed row identical to the stored one (no file
    # written)
    warehouse.dbt("run", "--select", "marts", "--vars", "{lookback_hours: 720}")
    lake = Lake(warehouse.lake_root)
    for mart in ("cdx_records", "content_analytics", "project_analytics"):
        snapshot = lake.snapshot(mart)
        assert snapshot is not None
        stats = snapshot.run
        assert stats["mode"] == "incremental", stats
        assert stats["changed_rows"] == 0 and stats["files_written"] == 0, stats
    assert lake.snapshot("cdx_records").run["recompute_values"] > 0  # type: ignore[union-attr]
    # no page deleted or missing: the source's page count of every day is the mart's, so no
    # day's ids are read
    for mart in ("cdx_records", "content_analytics"):
        report = lake.snapshot(mart).run["recompute_report"]  # type: ignore[union-attr]
        assert report == {"days_with_other_page_counts": 0}, (mart, report)
    # a second DuckDB file over the same lake resolves the marts without building them
    again = Warehouse(shared_source_dsn, tmp_path / "second.duckdb", tmp_path / "lake")
    again.dbt("build", "--select", "marts.reporting")
    with again.connect() as conn:
        assert conn.execute("select count(*) from reporting.content_quality_daily").fetchone() != (
            0,
        )
    # a seed table left by an older version of the project (other columns than its CSV) is
    # replaced, whether this run loads the seed (dbt seed) or only reads it (the marts)
    for command in (("build", "--select", "marts"), ("seed",)):
        with warehouse.connect(attach_source=False) as conn:
            conn.execute(
                "create or replace table seeds.public_suffix_rules as "
                "select suffix, 'normal' as rule_type from seeds.public_suffix_rules"
            )
        result = warehouse.dbt(*command)
        assert "the stored table has other columns than the CSV; dropped" in result.stdout
        with warehouse.connect(attach_source=False) as conn:
            columns = conn.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'seeds' and table_name = 'public_suffix_rules' "
                "order by ordinal_position"
            ).fetchall()
        assert [c[0] for c in columns] == [
            "suffix",
            "is_rule",
            "is_wildcard_parent",
            "is_exception",
            "label_form",
        ], command
