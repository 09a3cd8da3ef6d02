"""Compaction: closed hours become one deduplicated file; open hours stay; a crash at any
step converges on the next run to what an uninterrupted run produces."""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

import chrono_analytics
from chrono_analytics.errors import UserFacingError
from chrono_analytics.events import Event, EventWriter, compact, read_sql
from chrono_analytics.events.cli import register
from chrono_analytics.events.compaction import COMPACTED_NAME, CompactionBusyError

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
    else:
        # readers see the old files; the hidden temporary file is not matched by globs
        temporaries = [n for n in hour9 if n.startswith(".") and n.endswith(".tmp")]
        assert len(temporaries) == 1 and len(hour9) == 4
        assert rows_by_hour(lake)[0] == (9, 120, 120)

    report = compact(lake, now=NOW)
    assert report.failures == []
    assert [n for n in listing(lake, 9) if not n.endswith(".tmp")] == [COMPACTED_NAME]
    assert content(lake) == content(reference)
    assert rows_by_hour(lake) == rows_by_hour(reference)
    if where == "before_rename":
        # a fresh temporary file is kept (it could be a live writer's); once it is older
        # than the grace period, the next run removes it
        old = datetime(2024, 3, 5, tzinfo=UTC).timestamp()
        for tmp in (lake / "event_date=2024-03-05" / "event_hour=9").glob(".*.tmp"):
            os.utime(tmp, (old, old))
        assert compact(lake, now=NOW).temporary_files_removed == 1
        assert list(listing(lake, 9)) == [COMPACTED_NAME]


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
        "(30 duplicates removed), stale temporary files removed 0\n"
    )
    with pytest.raises(UserFacingError, match="does not exist; set CHRONO_EVENTS_ROOT"):
        cli("events", "compact", "--root", str(tmp_path / "missing"))
