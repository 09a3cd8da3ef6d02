"""The event writer against real files: when it flushes, what a reader can see, what
survives a stop or a crash, two processes at once, asyncio."""

from __future__ import annotations

import asyncio
import glob
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import chrono_analytics
from chrono_analytics.events import (
    Event,
    EventValidationError,
    EventWriter,
    WriterClosedError,
    generate_demo_events,
    read_sql,
)
from chrono_analytics.events import files as files_module
from chrono_analytics.events import writer as writer_module

LOADERS = str(Path(chrono_analytics.__file__).resolve().parents[1])
T0 = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)


def metric(i: int, *, at: datetime | None = None, **extra: Any) -> Event:
    return Event.system_metric(
        memory_usage_mb=100.0 + i,
        cpu_usage_percent=12.5,
        event_timestamp=at if at is not None else T0 + timedelta(seconds=i),
        source_component="worker",
        event_data={"i": i, **extra},
    )


def count_rows(root: Path) -> tuple[int, int]:
    """(rows, distinct event ids) as DuckDB reads the lake."""
    if not glob.glob(str(root / "*/*/*.parquet")):
        return 0, 0
    result = duckdb.sql(f"select count(*), count(distinct event_id) from {read_sql(root)}")
    rows, distinct = result.fetchone() or (0, 0)
    return int(rows), int(distinct)


def data_files(root: Path) -> list[str]:
    return sorted(glob.glob(str(root / "*/*/*.parquet")))


def run_python(code: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": LOADERS}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=env,
        check=check,
        timeout=60,
    )


def test_flush_on_size(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path, max_buffer_events=10, flush_interval_s=None, spool=False)
    for i in range(9):
        writer.capture(metric(i))
    assert data_files(tmp_path) == []
    writer.capture(metric(9))
    assert len(data_files(tmp_path)) == 1
    assert writer.pending == 0
    for i in range(10, 25):
        writer.capture(metric(i))
    assert len(data_files(tmp_path)) == 2
    assert writer.pending == 5
    writer.close()
    assert len(data_files(tmp_path)) == 3
    assert count_rows(tmp_path) == (25, 25)


def test_flush_on_interval(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path, max_buffer_events=1000, flush_interval_s=0.2, spool=False)
    try:
        for i in range(3):
            writer.capture(metric(i))
        deadline = time.monotonic() + 10
        while not data_files(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(data_files(tmp_path)) == 1
        assert writer.pending == 0
        assert count_rows(tmp_path) == (3, 3)
    finally:
        writer.close()


def test_flush_on_close_and_context_exit(tmp_path: Path) -> None:
    with EventWriter(tmp_path, max_buffer_events=1000, flush_interval_s=None) as writer:
        ids = [writer.capture(metric(i)) for i in range(7)]
        assert data_files(tmp_path) == []
    assert count_rows(tmp_path) == (7, 7)
    assert writer.closed
    with pytest.raises(WriterClosedError):
        writer.capture(metric(99))
    writer.close()  # idempotent
    read_ids = duckdb.sql(f"select event_id from {read_sql(tmp_path)}").fetchall()
    assert sorted(r[0] for r in read_ids) == sorted(ids)
    # a clean close leaves no spool and no in-flight folder behind
    assert sorted(p.name for p in (tmp_path / "_spool").iterdir()) == ["_recovery.lock"]
    assert sorted(p.name for p in (tmp_path / "_inflight").iterdir()) == ["_registry.lock"]


def test_context_exit_on_error_still_writes_what_was_accepted(tmp_path: Path) -> None:
    with pytest.raises(KeyError), EventWriter(tmp_path, flush_interval_s=None) as writer:
        writer.capture(metric(1))
        raise KeyError("application failure")
    assert count_rows(tmp_path) == (1, 1)


def test_partition_layout_and_file_contents(tmp_path: Path) -> None:
    plus2 = timezone(timedelta(hours=2))
    with EventWriter(tmp_path, flush_interval_s=None, spool=False) as writer:
        writer.capture(metric(1, at=datetime(2024, 3, 5, 9, 59, 59, 999999, tzinfo=UTC)))
        writer.capture(metric(2, at=datetime(2024, 3, 5, 10, 0, tzinfo=UTC)))
        writer.capture(metric(3, at=datetime(2024, 3, 6, 1, 15, tzinfo=plus2)))  # 23:15 UTC
        result = writer.flush()
    folders = sorted(str(Path(p).parent.relative_to(tmp_path)) for p in data_files(tmp_path))
    assert folders == [
        "event_date=2024-03-05/event_hour=10",
        "event_date=2024-03-05/event_hour=23",
        "event_date=2024-03-05/event_hour=9",
    ]
    assert result.events == 3
    assert sorted(f.rows for f in result.files) == [1, 1, 1]
    names = [Path(p).name for p in data_files(tmp_path)]
    assert all(n.startswith("part-") and n.endswith(".parquet") for n in names)
    schema = pq.read_schema(data_files(tmp_path)[0])
    assert "event_date" not in schema.names and "event_hour" not in schema.names
    rows = duckdb.sql(
        f"select event_date, event_hour, event_timestamp, event_data->>'i' "
        f"from {read_sql(tmp_path)} order by event_timestamp"
    ).fetchall()
    assert [(str(r[0]), r[1], r[3]) for r in rows] == [
        ("2024-03-05", 9, "1"),
        ("2024-03-05", 10, "2"),
        ("2024-03-05", 23, "3"),
    ]
    assert rows[2][2] == datetime(2024, 3, 5, 23, 15, tzinfo=UTC)


def test_a_reader_never_sees_a_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with EventWriter(tmp_path, flush_interval_s=None, spool=False) as writer:
        writer.capture(metric(0))
        writer.flush()
        seen_during_write: list[tuple[list[str], list[str], tuple[int, int]]] = []
        real_write = pq.write_table

        def write_and_look(table: pa.Table, where: Any, **kwargs: Any) -> None:
            real_write(table, where, **kwargs)
            where.flush()
            seen_during_write.append(
                (
                    data_files(tmp_path),
                    sorted(glob.glob(str(tmp_path / "**" / "*.parquet"), recursive=True)),
                    count_rows(tmp_path),
                )
            )
            temporaries = [p for p in tmp_path.rglob(".*") if p.name.endswith(".tmp")]
            assert len(temporaries) == 1 and temporaries[0].stat().st_size > 0

        monkeypatch.setattr(files_module, "pq", SimpleNamespace(write_table=write_and_look))
        for i in range(1, 4):
            writer.capture(metric(i))
        writer.flush()
    assert len(seen_during_write) == 1
    visible, recursive, counts = seen_during_write[0]
    assert len(visible) == 1 and recursive == visible  # the old file only
    assert counts == (1, 1)  # DuckDB reads the lake while the new file is being written
    assert count_rows(tmp_path) == (4, 4)
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_a_failed_flush_keeps_every_event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = EventWriter(tmp_path, flush_interval_s=None)
    real_write = pq.write_table
    calls = {"n": 0}

    def fail_midway(table: pa.Table, where: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        where.write(b"PAR1 partial garbage")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files_module, "pq", SimpleNamespace(write_table=fail_midway))
    for i in range(5):
        writer.capture(metric(i))
    with pytest.raises(OSError, match="No space left"):
        writer.flush()
    assert writer.pending == 5
    assert data_files(tmp_path) == [] and not list(tmp_path.rglob("*.tmp"))
    monkeypatch.setattr(files_module, "pq", SimpleNamespace(write_table=real_write))
    writer.capture(metric(5))
    writer.close()
    assert calls["n"] == 1
    assert count_rows(tmp_path) == (6, 6)
    assert sorted(p.name for p in (tmp_path / "_spool").iterdir()) == ["_recovery.lock"]


def test_a_failed_size_flush_does_not_fail_the_capture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    writer = EventWriter(tmp_path, max_buffer_events=3, flush_interval_s=None)
    real_write = pq.write_table
    calls = {"n": 0}

    def disk_full(table: pa.Table, where: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files_module, "pq", SimpleNamespace(write_table=disk_full))
    ids = [writer.capture(metric(i)) for i in range(7)]  # accepted, no exception
    assert len(set(ids)) == 7
    assert isinstance(writer.last_flush_error, OSError)
    assert calls["n"] == 2  # at 3 events, then not again before 3 + 3 more
    assert writer.pending == 7
    assert "the events stay buffered" in caplog.text
    monkeypatch.setattr(files_module, "pq", SimpleNamespace(write_table=real_write))
    writer.close()
    assert writer.last_flush_error is None
    assert count_rows(tmp_path) == (7, 7)


def test_validation_errors_reach_the_caller_and_nothing_else_is_lost(tmp_path: Path) -> None:
    with EventWriter(tmp_path, flush_interval_s=None) as writer:
        writer.capture(metric(1))
        with pytest.raises(EventValidationError, match=r"^cpu_usage_percent: "):
            writer.capture(Event.system_metric(cpu_usage_percent=-3, source_component="x"))
        with pytest.raises(EventValidationError, match=r"^source_component: required"):
            writer.capture(Event.user_interaction("login", user_id=1))
        writer.capture(metric(2))
        assert writer.accepted == 2
    assert count_rows(tmp_path) == (2, 2)


def test_writer_defaults_and_auto_timestamps(tmp_path: Path) -> None:
    with EventWriter(
        tmp_path, flush_interval_s=None, source_component="api", environment="test"
    ) as writer:
        first = writer.capture(Event.user_interaction("search", user_id=3))
        second = writer.capture(Event.user_interaction("search", user_id=3))
    assert first != second  # same content, but timestamps strictly increase per writer
    rows = duckdb.sql(
        f"select source_component, environment, event_timestamp, created_at "
        f"from {read_sql(tmp_path)} order by event_timestamp"
    ).fetchall()
    assert [r[:2] for r in rows] == [("api", "test"), ("api", "test")]
    assert rows[0][2] < rows[1][2]
    assert all(abs(r[2] - datetime.now(UTC)) < timedelta(minutes=1) for r in rows)


_AT_EXIT = """
import sys
from datetime import datetime, timedelta, timezone
from chrono_analytics.events import Event, EventWriter
writer = EventWriter(sys.argv[1], max_buffer_events=100_000, flush_interval_s=None,
                     spool=sys.argv[2] == "spool")
t0 = datetime(2024, 3, 5, 9, tzinfo=timezone.utc)
for i in range(250):
    writer.capture(Event.performance(float(i), event_timestamp=t0 + timedelta(seconds=i * 30),
                                     source_component="script"))
if sys.argv[3] == "raise":
    raise SystemExit("the script fails after capturing")
"""


@pytest.mark.parametrize(("spool", "ending"), [("spool", "normal"), ("nospool", "raise")])
def test_flush_at_interpreter_exit(tmp_path: Path, spool: str, ending: str) -> None:
    done = run_python(_AT_EXIT, str(tmp_path), spool, ending, check=False)
    assert done.returncode == (0 if ending == "normal" else 1), done.stderr
    assert count_rows(tmp_path) == (250, 250)
    assert len(data_files(tmp_path)) == 3  # 250 events * 30 s span hours 9, 10 and 11


_KILLED = """
import os, signal, sys
from datetime import datetime, timedelta, timezone
from chrono_analytics.events import Event, EventWriter
writer = EventWriter(sys.argv[1], max_buffer_events=200, flush_interval_s=None)
t0 = datetime(2024, 3, 5, 9, tzinfo=timezone.utc)
for i in range(int(sys.argv[2])):
    writer.capture(Event.performance(float(i), event_timestamp=t0 + timedelta(seconds=i),
                                     source_component="victim", event_data={"i": i}))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_spool_makes_a_sigkill_lose_nothing(tmp_path: Path) -> None:
    done = run_python(_KILLED, str(tmp_path), "530", check=False)
    assert done.returncode == -signal.SIGKILL
    assert count_rows(tmp_path) == (400, 400)  # two size flushes happened before the kill
    spool = tmp_path / "_spool"
    assert len(list(spool.glob("*.jsonl"))) == 1 and len(list(spool.glob("*.lock"))) == 2

    # a live writer is never mistaken for a dead one
    with EventWriter(tmp_path, flush_interval_s=None) as live:
        live.capture(metric(1))
        with EventWriter(tmp_path, flush_interval_s=None) as other:
            assert other.recovered == 0
        assert live.recovered == 130
    assert count_rows(tmp_path) == (531, 531)
    assert sorted(p.name for p in spool.iterdir()) == ["_recovery.lock"]


def test_a_torn_last_spool_line_is_skipped(tmp_path: Path) -> None:
    done = run_python(_KILLED, str(tmp_path), "10", check=False)
    assert done.returncode == -signal.SIGKILL
    segment = next((tmp_path / "_spool").glob("*.jsonl"))
    with open(segment, "ab") as handle:
        handle.write(b'["half a line')  # as if killed in the middle of a write
    with EventWriter(tmp_path, flush_interval_s=None) as writer:
        assert writer.recovered == 10
    assert count_rows(tmp_path) == (10, 10)


_CONCURRENT = """
import sys, time
from datetime import datetime, timedelta, timezone
from chrono_analytics.events import Event, EventWriter
root, name, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
t0 = datetime(2024, 3, 5, 9, tzinfo=timezone.utc)
while time.time() < start_at:
    time.sleep(0.001)
with EventWriter(root, max_buffer_events=50, flush_interval_s=0.05) as writer:
    for i in range(2000):
        writer.capture(Event.performance(1.0, event_timestamp=t0 + timedelta(milliseconds=i),
                                         source_component=name, event_data={"i": i}))
print(writer.files_written)
"""


def test_two_processes_write_at_the_same_time(tmp_path: Path) -> None:
    start_at = f"{time.time() + 1.0:.3f}"
    env = {**os.environ, "PYTHONPATH": LOADERS}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_CONCURRENT), str(tmp_path), name, start_at],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in ("proc_a", "proc_b")
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    files_written = sum(int(out.strip()) for out, _ in outputs)
    files = data_files(tmp_path)
    assert len(files) == files_written >= 80  # at least 2000/50 flushes each, one folder
    assert len({Path(f).parent for f in files}) == 1
    assert count_rows(tmp_path) == (4000, 4000)
    per_process = duckdb.sql(
        f"select source_component, count(*) from {read_sql(tmp_path)} group by 1 order by 1"
    ).fetchall()
    assert per_process == [("proc_a", 2000), ("proc_b", 2000)]
    assert not list(tmp_path.rglob("*.tmp"))


def test_async_capture_flushes_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write_hour = writer_module.write_hour
    flush_threads: list[str] = []

    def slow_write_hour(*args: Any, **kwargs: Any) -> Any:
        flush_threads.append(threading.current_thread().name)
        time.sleep(0.3)
        return real_write_hour(*args, **kwargs)

    monkeypatch.setattr(writer_module, "write_hour", slow_write_hour)

    async def main() -> int:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        tick_task = asyncio.create_task(ticker())
        async with EventWriter(tmp_path, max_buffer_events=100, flush_interval_s=None) as writer:
            for i in range(250):
                await writer.acapture(metric(i))
            await writer.aflush()
        stop.set()
        await tick_task
        return ticks

    ticks = asyncio.run(main())
    assert len(flush_threads) == 3
    assert "MainThread" not in flush_threads
    assert ticks >= 30  # the loop kept running during ~0.9 s of flushing
    assert count_rows(tmp_path) == (250, 250)


def test_demo_stream_is_deterministic_and_realistic(tmp_path: Path) -> None:
    counts = []
    for name in ("a", "b"):
        with EventWriter(tmp_path / name, flush_interval_s=None, spool=False) as writer:
            counts.append(generate_demo_events(writer, pages=200, users=5, projects=2, seed=7))
    assert counts[0] == counts[1]
    assert set(counts[0]) == {
        "error",
        "performance",
        "pipeline_stage",
        "system_metric",
        "user_interaction",
    }
    ids = [
        duckdb.sql(f"select event_id from {read_sql(tmp_path / n)} order by 1").fetchall()
        for n in ("a", "b")
    ]
    assert ids[0] == ids[1] and len(ids[0]) == sum(counts[0].values())
    hours = duckdb.sql(
        f"select min(event_timestamp), max(event_timestamp), count(distinct event_hour), "
        f"count(*) filter (where event_type = 'system_metric' and memory_usage_mb > 0 "
        f"and cpu_usage_percent > 0) from {read_sql(tmp_path / 'a')}"
    ).fetchone()
    assert hours is not None
    assert hours[0] >= datetime(2024, 1, 1, tzinfo=UTC)
    assert hours[1] < datetime(2024, 1, 2, tzinfo=UTC)
    assert hours[2] == 24
    assert hours[3] == counts[0]["system_metric"] == 288 * 4
