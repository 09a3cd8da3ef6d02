"""Events per second through the event library, through the CLI, and the original application's way.

    python bench/bench_events.py [--events 1000000] [--workdir /tmp/chrono-bench-events]

One stream of N events (time-ordered over 24 hours, a realistic mix of the five types) is
written four ways, each into its own folder:

1. the library with its defaults (buffer 5,000 events, 5 s timer, crash spool on);
2. the library without the spool;
3. the CLI (``chrono-analytics events ingest``) reading the same events as JSON Lines;
4. the original application's way: a pandas DataFrame and ``to_parquet`` per flush of
   1,000 events, one file per hour group named ``events_<YYYYmmdd_HHMMSS>.parquet``
   (skipped when pandas is not importable). No validation, as in the original;
   partitioned by the events' own timestamps (the original used the wall clock) so that
   the layouts are comparable.

Each row reports the wall time, events/second, files and bytes written and what DuckDB
reads back (rows, distinct event ids). Then the library and CLI lakes are compacted.
Generating the events and the JSONL file is not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "loaders"))

from chrono_analytics.events import Event, EventWriter, compact, read_sql  # noqa: E402

START = datetime(2024, 1, 1, tzinfo=UTC)
HOURS = 24

_CLI = "import sys; from chrono_analytics.cli import main; sys.exit(main(sys.argv[1:]))"


def make_events(n: int, seed: int = 42) -> list[Event]:
    """n events in time order over HOURS hours: 60 % pipeline stages, 15 % performance,
    10 % system metrics, 10 % user interactions, 5 % errors."""
    rng = random.Random(seed)
    step_us = HOURS * 3600 * 1_000_000 / n
    stages = ("discovery", "fetch", "content_extraction", "indexing")
    components = ("api", "scrape_worker", "extraction_worker", "indexer")
    events: list[Event] = []
    for i in range(n):
        at = START + timedelta(microseconds=int(i * step_us))
        roll = rng.random()
        page = rng.randint(1, 250_000)
        common: dict[str, Any] = {
            "event_timestamp": at,
            "project_id": page % 40 + 1,
            "domain_id": page % 300 + 1,
            "environment": "bench",
            "correlation_id": f"page-{page}",
        }
        if roll < 0.60:
            failed = rng.random() < 0.05
            event = Event.pipeline_stage_event(
                rng.choice(stages),
                "failed" if failed else "completed",
                duration_ms=round(rng.lognormvariate(5, 0.7), 3),
                items_processed=1,
                success_count=0 if failed else 1,
                failure_count=1 if failed else 0,
                scrape_page_id=page,
                scrape_session_id=page % 40 + 1,
                source_component="scrape_worker",
                source_module="chrono.pipeline",
                event_data={"url": f"https://example{page % 300}.org/p/{page}", "try": 1},
                **common,
            )
        elif roll < 0.75:
            event = Event.performance(
                round(rng.lognormvariate(4.5, 0.9), 3),
                memory_usage_mb=round(rng.uniform(180, 420), 2),
                cpu_usage_percent=round(rng.uniform(1, 60), 2),
                event_subtype="http_request",
                source_component="api",
                event_data={"endpoint": "/api/v1/search", "status": 200},
                **common,
            )
        elif roll < 0.85:
            event = Event.system_metric(
                memory_usage_mb=round(rng.uniform(200, 2000), 2),
                cpu_usage_percent=round(rng.uniform(0, 100), 2),
                event_subtype="resource_sample",
                source_component=rng.choice(components),
                **common,
            )
        elif roll < 0.95:
            event = Event.user_interaction(
                rng.choice(("login", "search", "view_page", "export_results")),
                user_id=rng.randint(1, 500),
                duration_ms=round(rng.uniform(20, 400), 3),
                source_component="web_interface",
                event_data={"client": "web"},
                **common,
            )
        else:
            event = Event.error(
                error_code=rng.choice(("HTTP_503", "TIMEOUT", "PARSE_ERROR")),
                error_category=rng.choice(("network", "parsing")),
                event_message="fetch failed",
                scrape_page_id=page,
                source_component="scrape_worker",
                **common,
            )
        events.append(event)
    return events


def to_record(event: Event) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, value in event.__dict__.items():
        if value is None:
            continue
        record[key] = value.isoformat() if isinstance(value, datetime) else value
    return record


def lake_stats(folder: Path, pattern: str = "*/*/*.parquet") -> tuple[int, int]:
    files = [p for p in folder.glob(pattern) if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def read_back(sql_source: str) -> tuple[int, int]:
    row = duckdb.sql(f"select count(*), count(distinct event_id) from {sql_source}").fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def run_library(events: list[Event], root: Path, *, spool: bool) -> float:
    started = time.perf_counter()
    with EventWriter(root, spool=spool) as writer:
        for event in events:
            writer.capture(event)
    return time.perf_counter() - started


def run_cli(jsonl: Path, root: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "loaders")}
    command = [sys.executable, "-c", _CLI, "events", "ingest", "--no-progress"]
    command += ["--root", str(root), str(jsonl)]
    started = time.perf_counter()
    done = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"CLI ingest failed ({done.returncode}):\n{done.stderr[-2000:]}")
    print(f"  {done.stdout.strip()}", file=sys.stderr)
    return seconds


def run_seed_way(events: list[Event], root: Path) -> float | None:
    """The original application's EventStreamingPipeline.flush_events, synchronously."""
    try:
        import pandas as pd
    except ImportError:
        return None

    def flush(buffer: list[dict[str, Any]]) -> None:
        df = pd.DataFrame(buffer)
        for (day, hour), group_df in df.groupby([df["event_date"], df["event_hour"]]):
            output_path = (
                root / f"year={day.year}/month={day.month:02d}/day={day.day:02d}/hour={hour:02d}"
            )
            os.makedirs(output_path, exist_ok=True)
            stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
            group_df.to_parquet(
                output_path / f"events_{stamp}.parquet", compression="snappy", index=False
            )

    started = time.perf_counter()
    buffer: list[dict[str, Any]] = []
    for event in events:
        fields = {k: v for k, v in event.__dict__.items() if v is not None}
        data = fields.pop("event_data", {})
        ts = fields["event_timestamp"]
        fields.update(
            event_id=f"{datetime.now().isoformat()}_{event.event_type}_{hash(str(data))}",
            event_date=ts.date(),
            event_hour=ts.hour,
            event_data=json.dumps(data),
            created_at=datetime.now(),
        )
        buffer.append(fields)
        if len(buffer) >= 1000:
            flush(buffer)
            buffer.clear()
    if buffer:
        flush(buffer)
    return time.perf_counter() - started


def mib(size: int) -> str:
    return f"{size / 2**20:,.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/chrono-bench-events"))
    args = parser.parse_args(argv)
    n: int = args.events
    work: Path = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    print(f"generating {n:,} events ...", file=sys.stderr)
    events = make_events(n)
    jsonl = work / "events.jsonl"
    with open(jsonl, "w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(to_record(event), ensure_ascii=False) + "\n")

    rows: list[tuple[str, float | None, tuple[int, int], tuple[int, int]]] = []
    for label, spool in (("library, spool on (defaults)", True), ("library, spool off", False)):
        print(f"{label} ...", file=sys.stderr)
        root = work / ("lib_spool" if spool else "lib_nospool")
        seconds = run_library(events, root, spool=spool)
        rows.append((label, seconds, lake_stats(root), read_back(read_sql(root))))
    print("CLI ingest ...", file=sys.stderr)
    cli_root = work / "cli"
    seconds = run_cli(jsonl, cli_root)
    rows.append(
        ("CLI ingest (JSONL file)", seconds, lake_stats(cli_root), read_back(read_sql(cli_root)))
    )
    print("seed way (pandas) ...", file=sys.stderr)
    seed_root = work / "seed"
    seed_seconds = run_seed_way(events, seed_root)
    if seed_seconds is None:
        rows.append(("seed way: skipped (pandas not importable)", None, (0, 0), (0, 0)))
    else:
        glob = (seed_root / "**" / "*.parquet").as_posix()
        rows.append(
            (
                "seed way (pandas, 1,000/flush)",
                seed_seconds,
                lake_stats(seed_root, "**/*.parquet"),
                read_back(f"read_parquet('{glob}', union_by_name = true)"),
            )
        )

    print()
    print(
        f"events: {n:,} over {HOURS} h; JSONL input {mib(jsonl.stat().st_size)} MiB; "
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    header = (
        f"{'path':<42} {'seconds':>8} {'events/s':>10} {'files':>6} {'MiB':>8} "
        f"{'rows read':>10} {'distinct ids':>12}"
    )
    print(header)
    print("-" * len(header))
    for label, secs, (files, size), (read, distinct) in rows:
        if secs is None:
            print(f"{label:<42}")
            continue
        print(
            f"{label:<42} {secs:>8.1f} {n / secs:>10,.0f} {files:>6,} {mib(size):>8} "
            f"{read:>10,} {distinct:>12,}"
        )

    print()
    header = f"{'compaction':<42} {'seconds':>8} {'files':>15} {'MiB':>17} {'rows':>21}"
    print(header)
    print("-" * len(header))
    after_everything = START + timedelta(days=2)
    for label, root in (("library lake (spool on)", work / "lib_spool"), ("CLI lake", cli_root)):
        started = time.perf_counter()
        report = compact(root, now=after_everything)
        secs = time.perf_counter() - started
        print(
            f"{label:<42} {secs:>8.1f} {report.files_before:>6,} -> {report.files_after:<5,} "
            f"{mib(report.bytes_before):>7} -> {mib(report.bytes_after):<7} "
            f"{report.rows_read:>9,} -> {report.rows_written:<9,}"
        )
        assert read_back(read_sql(root)) == (n, n), "compaction changed the rows"
    return 0


if __name__ == "__main__":
    sys.exit(main())
