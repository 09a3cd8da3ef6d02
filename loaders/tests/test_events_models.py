"""The dbt models over the events lake (stg_events, events, system_performance_hourly), built
with dbt against real Parquet files written by the loaders' EventWriter.

Each test points CHRONO_EVENTS_ROOT at its own folder and runs
`dbt build --select stg_events events system_performance_hourly` (models, unit tests and
data tests), then checks the tables against DuckDB reading the raw files directly. The
last tests hold the dbt side to the loaders' events schema (column lists of the ymls) and
to the loaders' events root (the folder dbt reads is the one the writer writes, from any
working directory).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from chrono_analytics.config import events_root as python_events_root
from chrono_analytics.events import Event, EventWriter, generate_demo_events, read_sql
from chrono_analytics.events.schema import COLUMNS, duckdb_type
from warehouse_helpers import DBT, PROJECT_ROOT, Warehouse

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
    # the empty select keeps the contract's types (hand-checked ones, then all of them)
    for schema, table in (("staging", "stg_events"), ("marts", "events")):
        columns = query(
            warehouse,
            "select column_name, data_type from information_schema.columns "
            f"where table_schema = '{schema}' and table_name = '{table}' "
            "order by ordinal_position",
        )
        types = dict(columns)
        assert types["event_timestamp"] == "TIMESTAMP WITH TIME ZONE"
        assert types["event_data"] == "VARCHAR"  # JSON text: every engine reads a string
        assert types["event_hour"] == "INTEGER"
        assert columns[:32] == [(c.name, duckdb_type(c).upper()) for c in COLUMNS]


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


def yml_columns(path: str, kind: str, name: str) -> list[dict[str, Any]]:
    document = yaml.safe_load((PROJECT_ROOT / path).read_text())
    if kind == "sources":
        [source] = [s for s in document["sources"] if s["name"] == "events"]
        [table] = [t for t in source["tables"] if t["name"] == name]
        return list(table["columns"])
    [model] = [m for m in document["models"] if m["name"] == name]
    return list(model["columns"])


def accepted_values(column: dict[str, Any]) -> list[str] | None:
    for test in column.get("data_tests", []):
        if isinstance(test, dict) and "accepted_values" in test:
            return list(test["accepted_values"]["arguments"]["values"])
    return None


def has_test(column: dict[str, Any], name: str) -> bool:
    return any(
        test == name or (isinstance(test, dict) and name in test)
        for test in column.get("data_tests", [])
    )


def test_the_ymls_list_the_schemas_columns() -> None:
    """The yml column lists are written by hand (each with its own tests); this holds them to
    the loaders' events schema: same names, same order, same types, the schema's generated
    descriptions, NOT NULL where the schema says so, same accepted values."""
    names = [c.name for c in COLUMNS]
    source = yml_columns("models/staging/events/_events__sources.yml", "sources", "events")
    staging = yml_columns("models/staging/events/stg_events.yml", "models", "stg_events")
    mart = yml_columns("models/marts/events.yml", "models", "events")
    assert [c["name"] for c in source] == names
    assert [c["description"] for c in source] == [
        "{{ doc('events__" + name + "') }}" for name in names
    ]
    assert [c["name"] for c in staging] == names
    assert [c["name"] for c in mart] == [*names, "event_year", "event_month"]
    assert [c["data_type"] for c in mart] == [
        *(duckdb_type(c) for c in COLUMNS),
        "integer",
        "integer",
    ]
    assert [c["description"] for c in mart][:-2] == [
        "{{ doc('events__" + name + "') }}" for name in names
    ]
    # the contract enforces names and types; NOT NULL is a test (incremental_parquet does not
    # enforce constraints, and dbt warns at every parse when a model declares any)
    not_null = [c.name for c in COLUMNS if not c.nullable]
    assert [c["name"] for c in mart if "constraints" in c] == []
    assert [c["name"] for c in mart if has_test(c, "not_null")] == not_null
    for column in COLUMNS:
        if column.choices:
            for columns in (staging, mart):
                [entry] = [c for c in columns if c["name"] == column.name]
                assert accepted_values(entry) == list(column.choices), column.name


def dbt_with_roots(
    tmp_path: Path, env: Mapping[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """dbt run where `chrono-analytics` (run_dbt) and analysts run it, the project folder,
    with exactly `env` for CHRONO_LAKE_ROOT and CHRONO_EVENTS_ROOT."""
    full_env = {
        k: v for k, v in os.environ.items() if k not in ("CHRONO_EVENTS_ROOT", "CHRONO_LAKE_ROOT")
    }
    full_env.update(env, DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    done = subprocess.run(
        [DBT, *args, "--log-path", str(tmp_path / "logs")],
        cwd=PROJECT_ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    return done


def dbt_events_root(tmp_path: Path, env: Mapping[str, str]) -> Path:
    """The events folder dbt reads: `dbt parse` renders the source's location; DuckDB
    resolves a relative one against the folder dbt runs in, the project folder."""
    target = tmp_path / "target"
    dbt_with_roots(tmp_path, env, "parse", "--no-partial-parse", "--target-path", str(target))
    manifest = json.loads((target / "manifest.json").read_text())
    location = manifest["sources"]["source.chrono_analytics.events.events"]["meta"][
        "external_location"
    ]
    prefix, suffix = "read_parquet('", "/event_date=*/event_hour=*/*.parquet"
    assert location.startswith(prefix)
    pattern = location[len(prefix) :].split("', ")[0].replace("''", "'")
    assert pattern.endswith(suffix)
    return (PROJECT_ROOT / pattern.removesuffix(suffix)).resolve()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "lake/raw/events"),
        ({"CHRONO_LAKE_ROOT": "", "CHRONO_EVENTS_ROOT": ""}, "lake/raw/events"),
        ({"CHRONO_LAKE_ROOT": "/srv/lake", "CHRONO_EVENTS_ROOT": "other/events"}, "other/events"),
    ],
    ids=["defaults", "empty", "events-root-relative"],
)
def test_dbt_and_the_loaders_name_the_same_events_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    monkeypatch.delenv("CHRONO_EVENTS_ROOT", raising=False)
    monkeypatch.delenv("CHRONO_LAKE_ROOT", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(PROJECT_ROOT / "models" / "staging")  # `chrono-analytics` from a subfolder
    assert python_events_root() == (PROJECT_ROOT / expected).resolve()
    assert dbt_events_root(tmp_path, env) == python_events_root()


def test_dbt_reads_the_events_the_writer_wrote_from_a_subfolder(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end with a relative CHRONO_LAKE_ROOT (relative to the project folder, pointing
    into this test's folder): the writer's default root, used from a subfolder, is the folder
    `dbt build` reads."""
    lake = os.path.relpath(tmp_path / "lake", PROJECT_ROOT)
    monkeypatch.setenv("CHRONO_LAKE_ROOT", lake)
    monkeypatch.delenv("CHRONO_EVENTS_ROOT", raising=False)
    monkeypatch.chdir(PROJECT_ROOT / "models" / "staging")
    with EventWriter(flush_interval_s=None, spool=False) as writer:
        for i in range(7):
            writer.capture(
                Event.performance(
                    float(i), event_timestamp=START + timedelta(minutes=i), source_component="x"
                )
            )
    assert writer.root == (tmp_path / "lake/raw/events").resolve()
    env = {**warehouse.env(), "CHRONO_LAKE_ROOT": lake}
    env.pop("CHRONO_EVENTS_ROOT", None)
    dbt_with_roots(tmp_path, env, "build", "--select", "stg_events")
    monkeypatch.chdir(PROJECT_ROOT)  # the view keeps the relative path, as dbt rendered it
    assert query(warehouse, "select count(*) from staging.stg_events") == [(7,)]
