"""The dbt models over the events lake (stg_events, events, system_performance_hourly), built
with dbt against real Parquet files written by the loaders' EventWriter.

Each test points CHRONO_EVENTS_ROOT at its own folder and runs
`dbt build --select stg_events events system_performance_hourly` (models, unit tests and
data tests), then checks the tables against DuckDB reading the raw files directly.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from chrono_analytics.events import Event, EventWriter, generate_demo_events, read_sql
from warehouse_helpers import Warehouse

pytestmark = pytest.mark.slow

SELECT = ("stg_events", "events", "system_performance_hourly")
START = datetime(2024, 1, 1, tzinfo=UTC)
# the hour and component checked by hand, with a few events of known values added to it
HOUR = START + timedelta(hours=1)
COMPONENT = "api"


@pytest.fixture(scope="module")
def warehouse(shared_source_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    folder = tmp_path_factory.mktemp("events_models")
    return Warehouse(shared_source_dsn, folder / "chrono.duckdb", folder / "lake")


def write_stream(root: Path) -> None:
    """A three-hour demo stream plus known events in HOUR for COMPONENT: an error, a critical
    error, a warning-level performance event and a system metric without duration."""
    with EventWriter(root, spool=False, flush_interval_s=None, flush_at_exit=False) as writer:
        generate_demo_events(
            writer, pages=60, users=3, projects=2, start=START, end=START + timedelta(hours=3)
        )
        at = HOUR + timedelta(minutes=30)
        writer.capture(
            Event.error(
                error_code="HTTP_500",
                error_category="server",
                duration_ms=12_345.0,
                event_timestamp=at,
                source_component=COMPONENT,
            )
        )
        writer.capture(
            Event.error(
                error_code="OOM",
                severity="critical",
                event_timestamp=at + timedelta(seconds=1),
                source_component=COMPONENT,
            )
        )
        writer.capture(
            Event.performance(
                250.0,
                memory_usage_mb=512.0,
                cpu_usage_percent=99.0,
                severity="warning",
                event_timestamp=at + timedelta(seconds=2),
                source_component=COMPONENT,
            )
        )
        writer.capture(
            Event.system_metric(
                memory_usage_mb=1024.0,
                event_timestamp=HOUR + timedelta(minutes=59, seconds=59, microseconds=999_999),
                source_component=COMPONENT,
            )
        )


@pytest.fixture
def events_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "raw" / "events"
    write_stream(root)
    yield root


def build(warehouse: Warehouse, root: Path, *, full_refresh: bool = True) -> None:
    """Build the event models over `root`. Tests point one warehouse at different roots (a
    different source each), so by default the mart is rebuilt in full, not upserted."""
    refresh = ["--full-refresh"] if full_refresh else []
    warehouse.dbt(
        "build", "--select", *SELECT, *refresh, extra_env={"CHRONO_EVENTS_ROOT": str(root)}
    )


def test_an_incremental_build_adds_new_events_and_keeps_old_ones(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    root = tmp_path / "raw" / "events"
    with EventWriter(root, flush_interval_s=None, spool=False) as writer:
        generate_demo_events(writer, pages=30, users=3, projects=2, seed=1)
    build(warehouse, root)
    first = query(warehouse, "select count(*) from marts.events")[0][0]
    with EventWriter(root, flush_interval_s=None, spool=False) as writer:
        generate_demo_events(writer, pages=20, users=2, projects=2, seed=2)
    build(warehouse, root, full_refresh=False)
    (total,) = query(warehouse, "select count(*) from marts.events")[0]
    written = raw("select count(distinct event_id) from raw_events", root)[0][0]
    assert first < total == written
    assert query(warehouse, "select count(*) - count(distinct event_id) from marts.events") == [
        (0,)
    ]


def query(warehouse: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    with warehouse.connect(attach_source=False) as conn:
        return conn.execute(sql).fetchall()


def raw(sql_over_raw: str, root: Path) -> list[tuple[Any, ...]]:
    """Run `sql_over_raw` with `raw_events` bound to every row of every file under root."""
    with duckdb.connect() as conn:
        conn.execute("set TimeZone = 'UTC'")
        return conn.execute(
            f"with raw_events as (select * from {read_sql(root)}) {sql_over_raw}"
        ).fetchall()


def parquet_files(root: Path) -> list[Path]:
    return sorted(root.glob("event_date=*/event_hour=*/*.parquet"))


def test_events_has_one_row_per_event_id_written(warehouse: Warehouse, events_root: Path) -> None:
    build(warehouse, events_root)
    [(distinct_ids,)] = raw("select count(distinct event_id) from raw_events", events_root)
    [(rows, keys)] = query(warehouse, "select count(*), count(distinct event_id) from marts.events")
    assert distinct_ids > 100
    assert rows == keys == distinct_ids


def test_a_duplicated_file_does_not_duplicate_rows(warehouse: Warehouse, events_root: Path) -> None:
    files = parquet_files(events_root)
    original = files[len(files) // 2]
    shutil.copyfile(original, original.with_name("zz-duplicate-of-" + original.name))
    [(raw_rows, distinct_ids)] = raw(
        "select count(*), count(distinct event_id) from raw_events", events_root
    )
    assert raw_rows > distinct_ids  # the copy is really read twice
    build(warehouse, events_root)
    [(rows, keys)] = query(warehouse, "select count(*), count(distinct event_id) from marts.events")
    assert rows == keys == distinct_ids
    [(stg_rows,)] = query(warehouse, "select count(*) from staging.stg_events")
    assert stg_rows == distinct_ids
    [(events_in_hours,)] = query(
        warehouse, "select sum(event_count) from reporting.system_performance_hourly"
    )
    assert events_in_hours == distinct_ids


@pytest.mark.parametrize("state", ["empty", "missing"])
def test_an_empty_or_missing_events_root_builds(
    warehouse: Warehouse, tmp_path: Path, state: str
) -> None:
    root = tmp_path / "raw" / "events"
    if state == "empty":
        root.mkdir(parents=True)
        # a partition folder without a Parquet file (e.g. only a temporary file) is empty too
        hour_dir = root / "event_date=2024-01-01" / "event_hour=3"
        hour_dir.mkdir(parents=True)
        (hour_dir / "part-x.parquet.tmp").write_bytes(b"")
    build(warehouse, root)
    assert query(warehouse, "select count(*) from marts.events") == [(0,)]
    assert query(warehouse, "select count(*) from reporting.system_performance_hourly") == [(0,)]
    # the empty select keeps the contract's types
    types = dict(
        query(
            warehouse,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'marts' and table_name = 'events'",
        )
    )
    assert types["event_timestamp"] == "TIMESTAMP WITH TIME ZONE"
    assert types["event_data"] == "JSON"
    assert types["event_hour"] == "INTEGER"


def test_system_performance_hourly_matches_a_hand_computation(
    warehouse: Warehouse, events_root: Path
) -> None:
    # a duplicated file must not change the numbers either
    original = parquet_files(events_root)[0]
    shutil.copyfile(original, original.with_name("zz-duplicate-of-" + original.name))
    build(warehouse, events_root)
    [expected] = raw(
        f"""
        , deduplicated as (
            select * from raw_events
            qualify row_number() over (partition by event_id order by created_at) = 1
        )
        select
            count(*),
            count(*) filter (where event_type in ('system_metric', 'performance')),
            count(*) filter (where event_severity in ('error', 'critical')),
            avg(duration_ms) filter (where event_type in ('system_metric', 'performance')),
            avg(memory_usage_mb) filter (where event_type in ('system_metric', 'performance')),
            avg(cpu_usage_percent) filter (where event_type in ('system_metric', 'performance'))
        from deduplicated
        where source_component = '{COMPONENT}'
          and event_timestamp >= timestamptz '{HOUR.isoformat()}'
          and event_timestamp < timestamptz '{(HOUR + timedelta(hours=1)).isoformat()}'
        """,
        events_root,
    )
    actual = query(
        warehouse,
        f"""
        select event_count, metric_event_count, error_count,
            avg_duration_ms, avg_memory_usage_mb, avg_cpu_usage_percent
        from reporting.system_performance_hourly
        where source_component = '{COMPONENT}' and hour_at = timestamptz '{HOUR.isoformat()}'
        """,
    )
    assert len(actual) == 1
    assert actual[0][:3] == expected[:3]
    assert actual[0][3:] == pytest.approx(expected[3:])
    # the hand-made events are in it: at least the error and the critical error
    assert actual[0][2] >= 2
