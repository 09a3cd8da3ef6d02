"""Compaction: closed hours become one deduplicated file; open hours stay; a crash at any
step converges on the next run to what an uninterrupted run produces."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

import chrono_analytics
from chrono_analytics.errors import UserFacingError
from chrono_analytics.events import Event, EventWriter, compact, read_sql
from chrono_analytics.events.cli import register
from chrono_analytics.events.compaction import COMPACTED_NAME, CompactionBusyError
from chrono_analytics.events.files import Lease, sweep

LOADERS = str(Path(chrono_analytics.__file__).resolve().parents[1])
# hours 9 and 10 are closed at NOW with the default 15-minute grace; 11 ended only
# 5 minutes ago (still in its grace period) and 12 is the current hour
NOW = datetime(2024, 3, 5, 12, 5, tzinfo=UTC)
HOURS = (9, 10, 11, 12)


def event(hour: int, i: int) -> Event:
    return Event.performance(
        float(i),
        event_timestamp=datetime(2024, 3, 5, hour, 0, tzinfo=UTC) + timedelta(seconds=i),
        source_component="api",
        event_data={"i": i},
    )


def build_lake(root: Path, per_hour: int = 120, flush_every: int = 40) -> None:
    """Several small files per hour, plus a second copy of hour 10 (same event ids)."""
    with EventWriter(root, max_buffer_events=flush_every, flush_interval_s=None) as writer:
        for hour in HOURS:
            for i in range(per_hour):
                writer.capture(event(hour, i))
            writer.flush()
        for i in range(30):  # e.g. a replayed spool: the same events again
            writer.capture(event(10, i))


def listing(root: Path, hour: int) -> dict[str, tuple[int, int]]:
    folder = root / "event_date=2024-03-05" / f"event_hour={hour}"
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


def rows_by_hour(root: Path) -> list[tuple[int, int, int]]:
    return [
        (int(h), int(n), int(d))
        for h, n, d in duckdb.sql(
            f"select event_hour, count(*), count(distinct event_id) from {read_sql(root)} "
            "group by 1 order by 1"
        ).fetchall()
    ]


def content(root: Path) -> list[tuple[object, ...]]:
    return duckdb.sql(f"select * from {read_sql(root)} order by event_id").fetchall()


def test_closed_hours_become_one_deduplicated_file(tmp_path: Path) -> None:
    build_lake(tmp_path)
    assert rows_by_hour(tmp_path) == [(9, 120, 120), (10, 150, 120), (11, 120, 120), (12, 120, 120)]
    before = {hour: listing(tmp_path, hour) for hour in HOURS}
    assert [len(before[h]) for h in HOURS] == [3, 4, 3, 3]

    report = compact(tmp_path, now=NOW)

    assert report.partitions_seen == 4
    assert report.partitions_open == 2
    assert report.partitions_compacted == 2
    assert (report.files_before, report.files_after) == (13, 8)
    assert (report.rows_read, report.rows_written, report.duplicates_removed) == (270, 240, 30)
    assert report.bytes_after < report.bytes_before
    for hour in (9, 10):
        assert list(listing(tmp_path, hour)) == [COMPACTED_NAME]
    for hour in (11, 12):
        assert listing(tmp_path, hour) == before[hour]  # open hours: byte for byte untouched
    assert rows_by_hour(tmp_path) == [(9, 120, 120), (10, 120, 120), (11, 120, 120), (12, 120, 120)]
    ordered = duckdb.sql(
        f"select event_timestamp from {read_sql(tmp_path)} where event_hour = 9"
    ).fetchall()
    assert ordered == sorted(ordered)

    # nothing new: a second run changes nothing
    compacted = listing(tmp_path, 9)
    again = compact(tmp_path, now=NOW)
    assert (again.partitions_compacted, again.rows_read) == (0, 0)
    assert listing(tmp_path, 9) == compacted

    # a late event for a compacted hour is merged by the next run
    with EventWriter(tmp_path, flush_interval_s=None) as writer:
        writer.capture(event(9, 500))
        writer.capture(event(9, 0))  # and a duplicate of an already compacted one
    assert len(listing(tmp_path, 9)) == 2
    late = compact(tmp_path, now=NOW)
    assert (late.partitions_compacted, late.rows_read, late.rows_written) == (1, 122, 121)
    assert list(listing(tmp_path, 9)) == [COMPACTED_NAME]
    assert rows_by_hour(tmp_path)[0] == (9, 121, 121)


def test_the_grace_period_decides_what_is_closed(tmp_path: Path) -> None:
    build_lake(tmp_path)
    report = compact(tmp_path, now=NOW, grace=timedelta(minutes=4))  # hour 11 is closed now
    assert (report.partitions_open, report.partitions_compacted) == (1, 3)
    assert list(listing(tmp_path, 11)) == [COMPACTED_NAME]


_CRASH = """
import os, sys
from datetime import datetime, timezone
from chrono_analytics.events import compaction, files
root, where = sys.argv[1], sys.argv[2]
if where == "after_rename":       # compacted file in place, small files not yet deleted
    def crash(folder, inputs):
        inputs[0].unlink()          # even halfway through the deletions
        os._exit(9)
    compaction._remove_inputs = crash
else:                               # compacted file written but not yet renamed
    def crash(src, dst):
        os._exit(9)
    files.os.replace = crash
compaction.compact(root, now=datetime(2024, 3, 5, 12, 5, tzinfo=timezone.utc))
"""


@pytest.mark.parametrize("where", ["after_rename", "before_rename"])
def test_a_crash_in_the_middle_converges(tmp_path: Path, where: str) -> None:
    lake = tmp_path / "lake"
    reference = tmp_path / "reference"
    build_lake(lake)
    shutil.copytree(lake, reference)
    compact(reference, now=NOW)  # what an uninterrupted run gives

    crashed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CRASH), str(lake), where],
        env={**os.environ, "PYTHONPATH": LOADERS},
        capture_output=True,
        text=True,
        check=False,
    )
    assert crashed.returncode == 9, crashed.stderr

    hour9 = listing(lake, 9)
    if where == "after_rename":
        # readers see duplicates (same event_id) until the next run; nothing is missing
        assert COMPACTED_NAME in hour9 and len(hour9) == 3
        assert rows_by_hour(lake)[0] == (9, 200, 120)
        assert in_flight(lake) == []
    else:
        # readers see the old files; the dead compaction's file is not in a partition folder
        assert COMPACTED_NAME not in hour9 and len(hour9) == 3
        assert rows_by_hour(lake)[0] == (9, 120, 120)
        assert len(in_flight(lake)) == 1

    report = compact(lake, now=NOW)
    assert report.failures == []
    assert report.abandoned_files_removed == (1 if where == "before_rename" else 0)
    assert in_flight(lake) == []
    assert list(listing(lake, 9)) == [COMPACTED_NAME]
    assert content(lake) == content(reference)
    assert rows_by_hour(lake) == rows_by_hour(reference)


def test_a_damaged_partition_is_reported_and_left_alone(tmp_path: Path) -> None:
    build_lake(tmp_path)
    damaged = tmp_path / "event_date=2024-03-05" / "event_hour=9" / "foreign.parquet"
    damaged.write_bytes(b"not parquet at all")
    before = listing(tmp_path, 9)
    report = compact(tmp_path, now=NOW)
    assert [folder.name for folder, _ in report.failures] == ["event_hour=9"]
    assert listing(tmp_path, 9) == before
    assert list(listing(tmp_path, 10)) == [COMPACTED_NAME]


def test_one_compaction_at_a_time(tmp_path: Path) -> None:
    build_lake(tmp_path, per_hour=5, flush_every=5)
    fd = os.open(tmp_path / "_compaction.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(CompactionBusyError, match="another compaction"):
            compact(tmp_path, now=NOW)
        with pytest.raises(UserFacingError, match=r"another compaction .*; wait for it"):
            cli("events", "compact", "--root", str(tmp_path))
    finally:
        os.close(fd)


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="chrono-analytics")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


def sum_sizes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.glob("*/*/*.parquet"))


def test_compact_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_lake(tmp_path)  # hours of 2024: all closed today
    size_before = sum_sizes(tmp_path)
    assert cli("events", "compact", "--root", str(tmp_path)) == 0
    assert capsys.readouterr().out == (
        "events compact: partitions 4 (0 open, 4 compacted), files 13 -> 4, "
        f"bytes {size_before:,} -> {sum_sizes(tmp_path):,}, rows 510 -> 480 "
        "(30 duplicates removed), abandoned in-flight files removed 0\n"
    )
    with pytest.raises(UserFacingError, match="does not exist; set CHRONO_EVENTS_ROOT"):
        cli("events", "compact", "--root", str(tmp_path / "missing"))


# `chrono-analytics events ingest`, run as a real process, that stops inside its first Parquet
# write (the in-flight file is open and complete, not yet published) until the test lets it
# go, or dies there (os._exit) like a killed writer. Bounded: it never waits more than 30 s.
_PAUSED_INGEST = """
import os, sys, time
from pathlib import Path
from chrono_analytics.cli import main
from chrono_analytics.events import files
mode, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
real_write_table = files.write_table
def paused(table, sink, **kwargs):
    real_write_table(table, sink, **kwargs)
    sink.flush()
    if mode == "delete":  # someone removes the in-flight file under the ingest's feet
        os.unlink(sink.name)
    ready.touch()
    if mode == "die":
        os._exit(9)
    deadline = time.monotonic() + 30
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
files.write_table = paused
sys.exit(main(sys.argv[4:]))
"""

_CLI = "import sys; from chrono_analytics.cli import main; sys.exit(main(sys.argv[1:]))"


def jsonl_of(path: Path, hour: int, n: int) -> Path:
    lines = [
        json.dumps(
            {
                "event_type": "performance",
                "event_timestamp": f"2024-03-05T{hour:02d}:{i // 60:02d}:{i % 60:02d}Z",
                "source_component": "importer",
                "duration_ms": float(i),
            }
        )
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def start_paused_ingest(
    tmp_path: Path, name: str, mode: str, root: Path, source: Path
) -> tuple[subprocess.Popen[str], Path, Path]:
    ready, go = tmp_path / f"{name}.ready", tmp_path / f"{name}.go"
    ingest_args = ("events", "ingest", "--root", str(root), str(source))
    proc = subprocess.Popen(
        [sys.executable, "-c", _PAUSED_INGEST, mode, str(ready), str(go), *ingest_args],
        env={**os.environ, "PYTHONPATH": LOADERS},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the ingest never reached its first write"
        time.sleep(0.01)
    return proc, ready, go


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _CLI, *argv],
        env={**os.environ, "PYTHONPATH": LOADERS},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def in_flight(root: Path) -> list[Path]:
    return sorted(root.rglob("*.tmp"))


def test_compaction_never_removes_a_live_ingests_file_whatever_the_grace(tmp_path: Path) -> None:
    root = tmp_path / "events"
    source = jsonl_of(tmp_path / "in.jsonl", hour=9, n=100)  # hour 9 of 2024: long closed
    ingest, _, go = start_paused_ingest(tmp_path, "ingest", "pause", root, source)
    try:
        assert len(in_flight(root)) == 1
        compaction = run_cli("events", "compact", "--root", str(root), "--grace-minutes", "0")
        assert compaction.returncode == 0, compaction.stderr
        assert len(in_flight(root)) == 1  # still there, whatever --grace-minutes says
    finally:
        go.touch()
        out, err = ingest.communicate(timeout=60)
    assert ingest.returncode == 0, err
    assert "accepted 100, rejected 0, files written 1" in out
    assert run_cli("events", "compact", "--root", str(root)).returncode == 0
    assert rows_by_hour(root) == [(9, 100, 100)]
    assert list(listing(root, 9)) == [COMPACTED_NAME]
    assert in_flight(root) == []


def test_a_dead_writers_leftovers_are_removed_and_a_live_ones_kept(tmp_path: Path) -> None:
    root = tmp_path / "events"
    source = jsonl_of(tmp_path / "in.jsonl", hour=9, n=10)
    dead, _, _ = start_paused_ingest(tmp_path, "dead", "die", root, source)
    assert dead.wait(timeout=60) == 9
    leftover = in_flight(root)
    assert len(leftover) == 1
    live, _, go = start_paused_ingest(tmp_path, "live", "pause", root, source)
    try:
        [live_file] = [p for p in in_flight(root) if p not in leftover]
        # the default grace period: the dead writer's file is fresh, but its writer is gone
        compaction = run_cli("events", "compact", "--root", str(root))
        assert compaction.returncode == 0, compaction.stderr
        assert "abandoned in-flight files removed 1" in compaction.stdout
        assert in_flight(root) == [live_file]
    finally:
        go.touch()
        _, err = live.communicate(timeout=60)
    assert live.returncode == 0, err
    assert in_flight(root) == []
    assert rows_by_hour(root) == [(9, 10, 10)]


def test_the_ingests_error_names_what_failed_not_a_temporary_file(tmp_path: Path) -> None:
    root = tmp_path / "events"
    source = jsonl_of(tmp_path / "in.jsonl", hour=9, n=10)
    ingest, _, go = start_paused_ingest(tmp_path, "ingest", "delete", root, source)
    go.touch()
    _, err = ingest.communicate(timeout=60)
    assert ingest.returncode == 2
    assert "input file not found" not in err
    assert err.startswith(f"error: writing events under {root} failed: ")
    missing = run_cli("events", "ingest", "--root", str(root), str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2
    assert missing.stderr == (
        f"error: input file not found: {tmp_path / 'nope.jsonl'}; check the path\n"
    )


def test_ingest_and_compaction_running_together_lose_nothing(tmp_path: Path) -> None:
    """No pause: an ingest of many small flushes while compactions with no grace run in a
    loop beside it (bounded: at most 60 s)."""
    root = tmp_path / "events"
    source = jsonl_of(tmp_path / "in.jsonl", hour=9, n=3600)
    ingest = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _CLI,
            *("events", "ingest", "--root", str(root)),
            *("--buffer-events", "40", str(source)),
        ],
        env={**os.environ, "PYTHONPATH": LOADERS},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs = 0
    deadline = time.monotonic() + 60
    try:
        while ingest.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(CompactionBusyError):
                compact(root, grace=timedelta(0))
            runs += 1
    finally:
        out, err = ingest.communicate(timeout=60)
    assert ingest.returncode == 0, err
    assert runs >= 3
    assert "accepted 3,600, rejected 0, files written 90" in out
    compact(root, grace=timedelta(0))
    assert rows_by_hour(root) == [(9, 3600, 3600)]
    assert in_flight(root) == []


def test_a_lease_held_in_this_process_is_kept_and_a_released_one_leaves_nothing(
    tmp_path: Path,
) -> None:
    lease = Lease(tmp_path)
    staged = lease.folder / ".part-x.parquet.0123.tmp"
    staged.write_bytes(b"half a file")
    # flock conflicts between open files, also within one process: the lease is live
    assert sweep(tmp_path) == 0
    assert compact(tmp_path, grace=timedelta(0)).abandoned_files_removed == 0
    assert staged.exists()
    lease.release()
    lease.release()  # idempotent
    assert sorted(p.name for p in (tmp_path / "_inflight").iterdir()) == ["_registry.lock"]
    # a folder without its lock file belongs to no live lease
    orphan = tmp_path / "_inflight" / "123-abc"
    orphan.mkdir()
    (orphan / ".y.tmp").write_bytes(b"")
    assert sweep(tmp_path) == 1
    assert not orphan.exists()
