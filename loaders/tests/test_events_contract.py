"""The events contract: every kind of bad input, with its exact message; the event id."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import chrono_analytics
from chrono_analytics.config import events_root, load_settings
from chrono_analytics.errors import UserFacingError
from chrono_analytics.events import (
    EVENT_SCHEMA,
    FILE_SCHEMA,
    Event,
    EventContext,
    EventValidationError,
    EventWriter,
    validate_event,
)
from chrono_analytics.events.cli import register
from chrono_analytics.events.files import COLUMN_ENCODING, DICTIONARY_COLUMNS
from chrono_analytics.events.layout import partition_dir
from chrono_analytics.events.schema import (
    COLUMNS,
    CONTENT_COLUMNS,
    FILE_COLUMNS,
    generated_files,
    to_micros,
)
from chrono_analytics.events.validation import EVENT_ID_NAMESPACE, Defaults, normalize
from warehouse_helpers import PROJECT_ROOT

LOADERS = str(Path(chrono_analytics.__file__).resolve().parents[1])

BASE: dict[str, Any] = {
    "event_type": "performance",
    "event_timestamp": "2024-03-05T14:30:15.123456Z",
    "source_component": "api",
    "duration_ms": 12.5,
}


def with_(**changes: Any) -> dict[str, Any]:
    record = dict(BASE)
    for key, value in changes.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def column(row: tuple[Any, ...], name: str) -> Any:
    return row[FILE_COLUMNS.index(name)]


ALLOWED_TYPES = "'pipeline_stage', 'user_interaction', 'system_metric', 'performance', 'error'"
ALLOWED_SEVERITIES = "'debug', 'info', 'warning', 'error', 'critical'"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (with_(event_type=None), "event_type: required field is missing"),
        (with_(event_type="click"), f"event_type: 'click' is not one of {ALLOWED_TYPES}"),
        (
            with_(event_severity="INFO"),
            f"event_severity: 'INFO' is not one of {ALLOWED_SEVERITIES}",
        ),
        (
            with_(event_severity="fatal"),
            f"event_severity: 'fatal' is not one of {ALLOWED_SEVERITIES}",
        ),
        (with_(event_timestamp=None), "event_timestamp: required field is missing"),
        (
            with_(event_timestamp="2024-03-05T14:30:15"),
            "event_timestamp: '2024-03-05T14:30:15' has no UTC offset; "
            "write it in UTC with 'Z' or '+00:00'",
        ),
        (
            with_(event_timestamp="yesterday"),
            "event_timestamp: 'yesterday' is not an ISO-8601 timestamp",
        ),
        (
            with_(event_timestamp=1709649015),
            "event_timestamp: expected a datetime or an ISO-8601 string, got int",
        ),
        (
            with_(event_timestamp="1999-12-31T23:59:59Z"),
            "event_timestamp: 1999-12-31T23:59:59+00:00 is outside 2000-01-01 .. 2099-12-31 (UTC)",
        ),
        (
            with_(event_timestamp=datetime(2024, 3, 5, 14, 30)),
            "event_timestamp: naive datetime (no time zone); pass an aware datetime, "
            "e.g. datetime.now(timezone.utc)",
        ),
        (
            with_(source_component=None),
            "source_component: required field is missing "
            "(set it on the event or as the writer's default)",
        ),
        (with_(user_id="12"), "user_id: expected an integer, got str '12'"),
        (with_(user_id=True), "user_id: expected an integer, got bool True"),
        (with_(user_id=3.0), "user_id: expected an integer, got float 3.0"),
        (with_(user_id=0), "user_id: 0 is not a positive integer within int64"),
        (
            with_(scrape_page_id=2**63),
            "scrape_page_id: 9223372036854775808 is not a positive integer within int64",
        ),
        (with_(items_processed=-1), "items_processed: -1 is not an integer >= 0 within int64"),
        (with_(duration_ms="fast"), "duration_ms: expected a number, got str 'fast'"),
        (with_(duration_ms=-1), "duration_ms: -1 is not a finite number >= 0"),
        (
            with_(cpu_usage_percent=float("nan")),
            "cpu_usage_percent: nan is not a finite number >= 0",
        ),
        (
            with_(memory_usage_mb=float("inf")),
            "memory_usage_mb: inf is not a finite number >= 0",
        ),
        (with_(error_code=500), "error_code: expected a string, got int"),
        (
            with_(source_module="m" * 256),
            "source_module: 256 characters, over the 255-character limit",
        ),
        (
            with_(event_message="x" * 8193),
            "event_message: 8,193 characters, over the 8,192-character limit",
        ),
        (with_(event_data=[1, 2]), "event_data: expected a JSON object (dict), got list"),
        (with_(event_data="[1, 2]"), "event_data: expected a JSON object (dict), got list"),
        (with_(event_data="{not json"), "event_data: string is not valid JSON"),
        (
            with_(event_data={"blob": "x" * 65526}),
            "event_data: canonical JSON is 65,537 bytes, over the 65,536-byte limit",
        ),
        (
            with_(event_data={"blob": "é" * 32763}),
            "event_data: canonical JSON is 65,537 bytes, over the 65,536-byte limit",
        ),
        (with_(colour="red"), "colour: unknown field; the events contract has no such column"),
        (
            with_(event_id="a/b"),
            "event_id: 'a/b' is not 1-128 characters of A-Z a-z 0-9 . _ : -",
        ),
        (
            with_(event_id="x" * 129),
            "event_id: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... is not "
            "1-128 characters of A-Z a-z 0-9 . _ : -",
        ),
        (
            with_(event_date="2024-03-06"),
            "event_date: '2024-03-06' does not match event_timestamp (UTC date 2024-03-05)",
        ),
        (
            with_(event_date="../../etc"),
            "event_date: '../../etc' does not match event_timestamp (UTC date 2024-03-05)",
        ),
        (
            with_(event_hour=15),
            "event_hour: 15 does not match event_timestamp (UTC hour 14)",
        ),
        (
            with_(event_hour="14"),
            "event_hour: '14' does not match event_timestamp (UTC hour 14)",
        ),
        (
            with_(event_type="pipeline_stage", pipeline_stage="fetch"),
            "pipeline_status: required for pipeline_stage events",
        ),
        (
            with_(event_type="user_interaction"),
            "user_action: required for user_interaction events",
        ),
        (
            with_(event_type="system_metric", duration_ms=None),
            "memory_usage_mb: system_metric events need memory_usage_mb, "
            "cpu_usage_percent or duration_ms",
        ),
        (
            with_(event_type="performance", duration_ms=None),
            "duration_ms: required for performance events",
        ),
        (
            with_(event_type="error", event_severity="warning"),
            "event_severity: 'warning' is too low for an error event (use 'error' or 'critical')",
        ),
        (with_(trace_id="\udc80"), "trace_id: contains a lone surrogate (invalid Unicode)"),
        (
            with_(event_data={"k": "\ud800"}),
            "event_data: contains a lone surrogate (invalid Unicode)",
        ),
        (
            with_(created_at="2024-03-05 14:31"),
            "created_at: '2024-03-05 14:31' has no UTC offset; "
            "write it in UTC with 'Z' or '+00:00'",
        ),
    ],
)
def test_each_bad_input_names_the_field_and_the_problem(
    record: dict[str, Any], message: str
) -> None:
    with pytest.raises(EventValidationError) as caught:
        normalize(record)
    assert str(caught.value) == message
    assert caught.value.field == message.split(":", 1)[0]


@pytest.mark.parametrize(
    ("data", "message_start"),
    [
        (
            {"when": datetime(2024, 1, 1)},
            "event_data: not JSON-serializable: Object of type datetime is not JSON",
        ),
        (
            {"x": float("inf")},
            "event_data: not JSON-serializable: Out of range float values are not JSON",
        ),
    ],
)
def test_event_data_must_be_plain_json(data: dict[str, Any], message_start: str) -> None:
    with pytest.raises(EventValidationError, match=r"^event_data: ") as caught:
        normalize(with_(event_data=data))
    assert str(caught.value).startswith(message_start)


def test_event_data_at_the_limit_is_accepted_and_canonical() -> None:
    # '{"blob":"' (9 bytes) + 65,525 + '"}' (2 bytes) = 65,536 bytes: exactly the limit
    row = normalize(with_(event_data={"blob": "x" * 65525}))
    assert len(column(row, "event_data").encode()) == 65536
    row = normalize(with_(event_data={"b": [1, {"d": None, "c": "é"}], "a": 1.5}))
    assert column(row, "event_data") == '{"a":1.5,"b":[1,{"c":"é","d":null}]}'
    as_text = normalize(with_(event_data='{ "a" : 1.5, "b": [1, {"c": "é", "d": null}] }'))
    assert column(as_text, "event_data") == column(row, "event_data")


def test_aware_timestamps_become_utc_and_pick_the_utc_partition() -> None:
    row = normalize(with_(event_timestamp="2024-03-06T01:30:00+02:00"))
    utc = datetime(2024, 3, 5, 23, 30, tzinfo=UTC)
    assert column(row, "event_timestamp") == to_micros(utc)
    aware = datetime(2024, 3, 6, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert normalize(with_(event_timestamp=aware))[:-1] == row[:-1]
    hour_index = column(row, "event_timestamp") // 3_600_000_000
    assert partition_dir(Path("r"), hour_index) == Path("r/event_date=2024-03-05/event_hour=23")
    # a record may carry the partition columns when they agree with the timestamp
    agreeing = with_(
        event_timestamp="2024-03-06T01:30:00+02:00", event_date="2024-03-05", event_hour=23
    )
    assert normalize(agreeing)[:-1] == row[:-1]
    assert normalize(with_(event_date=date(2024, 3, 5), event_hour=14))


def test_defaults_and_severity() -> None:
    row = normalize(with_(source_component=None), defaults=Defaults("worker", "mod", "prod"))
    assert column(row, "source_component") == "worker"
    assert column(row, "source_module") == "mod"
    assert column(row, "environment") == "prod"
    assert column(row, "event_severity") == "info"
    error = normalize(with_(event_type="error", duration_ms=None))
    assert column(error, "event_severity") == "error"
    # JSON null is the same as absent
    assert normalize(with_(user_id=None))[:-1] == normalize({**BASE, "user_id": None})[:-1]


def test_the_typed_api_rejects_naive_datetimes_and_fills_now_in_utc() -> None:
    with pytest.raises(EventValidationError, match=r"^event_timestamp: naive datetime"):
        validate_event(Event.performance(5, event_timestamp=datetime(2024, 1, 1), **SRC))
    before = datetime.now(UTC)
    row = validate_event(Event.user_interaction("search", user_id=7, **SRC))
    stamped = column(row, "event_timestamp")
    assert to_micros(before) <= stamped <= to_micros(datetime.now(UTC))
    assert column(row, "user_action") == "search"


SRC: dict[str, Any] = {"source_component": "api"}


def test_event_id_is_uuid5_of_the_canonical_content() -> None:
    """Hand-built canonical form: the JSON array of CONTENT_COLUMNS, timestamps as
    integer microseconds, measures as floats, event_data as canonical JSON text."""
    record = {
        "event_type": "pipeline_stage",
        "event_timestamp": "2024-03-05T14:30:15.123456Z",
        "source_component": "scrape_worker",
        "pipeline_stage": "fetch",
        "pipeline_status": "completed",
        "scrape_page_id": 42,
        "duration_ms": 180,
        "event_data": {"b": 2, "a": 1},
    }
    values: list[Any] = [None] * len(CONTENT_COLUMNS)
    index = {name: i for i, name in enumerate(CONTENT_COLUMNS)}
    values[index["event_type"]] = "pipeline_stage"
    values[index["event_timestamp"]] = 1709649015123456
    values[index["scrape_page_id"]] = 42
    values[index["source_component"]] = "scrape_worker"
    values[index["event_data"]] = '{"a":1,"b":2}'
    values[index["event_severity"]] = "info"
    values[index["duration_ms"]] = 180.0
    values[index["pipeline_stage"]] = "fetch"
    values[index["pipeline_status"]] = "completed"
    canonical = json.dumps(values, separators=(",", ":"), ensure_ascii=False)
    expected = str(uuid.uuid5(EVENT_ID_NAMESPACE, canonical))
    row = normalize(record)
    assert row[0] == expected
    assert row[0] == "0582ea80-26f7-53cb-a36c-7ebe3d447f8a"  # pinned: ids must never drift
    # same content in another key order, an int measure written as float: same id
    reordered = dict(reversed(list(record.items())))
    reordered["duration_ms"] = 180.0
    reordered["event_data"] = {"a": 1, "b": 2}
    assert normalize(reordered)[0] == expected
    # created_at is not content
    assert normalize({**record, "created_at": "2030-01-01T00:00:00Z"})[0] == expected
    # any content change changes the id
    assert normalize({**record, "scrape_page_id": 43})[0] != expected
    # a caller's id is kept as it is
    assert normalize({**record, "event_id": "app-evt:0001"})[0] == "app-evt:0001"


_ID_SCRIPT = """
import json, sys
from chrono_analytics.events.validation import normalize
records = json.loads(sys.stdin.read())
print(json.dumps([normalize(r)[0] for r in records]))
"""


def test_event_id_is_the_same_in_other_processes() -> None:
    records = [
        with_(event_data={"z": [1, 2, {"y": "é"}], "a": None}),
        with_(event_type="user_interaction", user_action="login", user_id=9, duration_ms=None),
        with_(event_type="error", error_code="E1", event_message="boom"),
    ]
    here = [normalize(r)[0] for r in records]
    for hash_seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONPATH": LOADERS, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", _ID_SCRIPT],
            input=json.dumps(records),
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        assert json.loads(done.stdout) == here
    assert len(set(here)) == 3


def test_one_schema_files_hold_everything_but_the_partition_columns() -> None:
    assert EVENT_SCHEMA.names[:6] == [
        "event_id",
        "event_type",
        "event_subtype",
        "event_timestamp",
        "event_date",
        "event_hour",
    ]
    assert len(EVENT_SCHEMA) == 32
    assert FILE_SCHEMA.names == [
        n for n in EVENT_SCHEMA.names if n not in ("event_date", "event_hour")
    ]
    assert EVENT_SCHEMA.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert EVENT_SCHEMA.field("event_data").type == pa.json_()


def test_the_event_api_has_exactly_the_columns_a_file_holds() -> None:
    assert {f.name for f in dataclasses.fields(Event)} == set(FILE_COLUMNS)
    assert set(EventContext.__annotations__) < set(FILE_COLUMNS)
    assert [c.name for c in COLUMNS] == EVENT_SCHEMA.names
    assert DICTIONARY_COLUMNS == [
        "event_type",
        "event_subtype",
        "user_id",
        "project_id",
        "domain_id",
        "scrape_session_id",
        "source_component",
        "source_module",
        "environment",
        "event_message",
        "event_severity",
        "event_status",
        "error_code",
        "error_category",
        "user_action",
        "pipeline_stage",
        "pipeline_status",
        "items_processed",
        "success_count",
        "failure_count",
    ]
    assert COLUMN_ENCODING == {
        "event_timestamp": "DELTA_BINARY_PACKED",
        "created_at": "DELTA_BINARY_PACKED",
    }


def test_the_dbt_files_generated_from_the_schema_are_up_to_date() -> None:
    for path, text in generated_files().items():
        assert (PROJECT_ROOT / path).read_text() == text, (
            f"{path} differs from loaders/chrono_analytics/events/schema.py: "
            "run chrono-analytics events schema --write"
        )
    # hand-checked: the column list dbt casts to, in contract order
    macro = (PROJECT_ROOT / "macros/events_columns.sql").read_text()
    assert macro.count("('") == 32
    assert "('event_hour', 'integer')," in macro
    assert "('event_data', 'varchar')," in macro
    assert "('created_at', 'timestamp with time zone'),\n    ]) }}" in macro
    docs = (PROJECT_ROOT / "models/staging/events/_events__docs.md").read_text()
    assert docs.count("{% docs events__") == 32
    assert (
        "{% docs events__event_severity %}Severity: 'debug', 'info', 'warning', 'error' or "
        "'critical' (lower-case);" in docs
    )


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="chrono-analytics")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


def test_the_schema_command_writes_and_checks_the_generated_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    (project / "macros").mkdir(parents=True)
    (project / "models/staging/events").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: x\n")
    monkeypatch.chdir(project / "models")  # from a subfolder
    assert cli("events", "schema", "--check") == 1
    assert capsys.readouterr().err == (
        "macros/events_columns.sql differs from the events schema\n"
        "models/staging/events/_events__docs.md differs from the events schema\n"
        "run: chrono-analytics events schema --write\n"
    )
    assert cli("events", "schema", "--write") == 0
    assert capsys.readouterr().out == (
        "wrote macros/events_columns.sql\nwrote models/staging/events/_events__docs.md\n"
    )
    for path, text in generated_files().items():
        assert (project / path).read_text() == text
    assert cli("events", "schema", "--check") == 0
    macro = project / "macros/events_columns.sql"
    macro.write_text(macro.read_text().replace("'double'", "'float'"))  # a hand edit
    assert cli("events", "schema", "--check") == 1
    assert "macros/events_columns.sql differs" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserFacingError, match=r"no dbt_project\.yml in "):
        cli("events", "schema", "--check")


def test_the_events_root_is_resolved_once_relative_to_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path.resolve() / "project"
    (project / "models" / "staging").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: x\n")
    monkeypatch.chdir(project / "models" / "staging")  # run from a subfolder
    for name in ("CHRONO_EVENTS_ROOT", "CHRONO_LAKE_ROOT"):
        monkeypatch.delenv(name, raising=False)
    cases = [
        ({}, project / "lake/raw/events"),
        ({"CHRONO_LAKE_ROOT": "", "CHRONO_EVENTS_ROOT": ""}, project / "lake/raw/events"),
        ({"CHRONO_LAKE_ROOT": "data/lake"}, project / "data/lake/raw/events"),
        ({"CHRONO_LAKE_ROOT": "/data/lake"}, Path("/data/lake/raw/events")),
        ({"CHRONO_LAKE_ROOT": "/data/lake", "CHRONO_EVENTS_ROOT": "ev"}, project / "ev"),
        ({"CHRONO_EVENTS_ROOT": "/srv/events"}, Path("/srv/events")),
    ]
    for env, expected in cases:
        with monkeypatch.context() as scoped:
            for name, value in env.items():
                scoped.setenv(name, value)
            assert events_root() == expected, env  # read at call time
            assert load_settings().events_root == expected, env
    # the writer's default
    with EventWriter(flush_interval_s=None, spool=False) as writer:
        assert writer.root == project / "lake/raw/events"
    # outside a dbt project: the working directory
    monkeypatch.chdir(tmp_path)
    assert events_root() == tmp_path.resolve() / "lake/raw/events"
