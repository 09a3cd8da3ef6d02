"""Benchmark of the sync loop: how long a change committed in PostgreSQL takes to be visible
through the lake's read entry point, under a steady write load.

    .venv/bin/python bench/bench_sync.py --pages 1000000 [--rate 50] [--minutes 10]
        [--interval 30] [--workdir /tmp/chrono-bench]

A simulated scraper (one process) commits `--rate` changes per second against the source
for `--minutes`: new pages (inserts), status updates of recent pages (pending -> completed,
retries), page bodies arriving (extracted_text set with its status), and now and then a
delete. Every 100th change is a sample: its page id, what it changed and when its
transaction committed. `chrono-analytics sync --interval N` runs meanwhile (a process of its
own); a watcher polls `Lake.query` on content_analytics for the samples and records when each
became visible. Reported: p50/p95/max latency from commit to visible, the sync's CPU share and
peak RSS (from /proc), its cycle times, and the writer's achieved rate.

The real application's rate, for scale: a scraper session processes some thousands of pages
an hour, a few pages a second per worker; 50 changes a second is roughly ten busy workers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

from chrono_analytics.lake.reader import Lake
from common import PROJECT_ROOT, built_for_sync


@dataclass
class Sample:
    page_id: int
    kind: str
    committed: float
    expect: str  # the page_status the mart must show ('' for a delete)
    visible: float | None = None
    superseded: bool = False  # the page changed again before this change was seen


@dataclass
class Load:
    samples: list[Sample] = field(default_factory=list)
    changes: int = 0
    seconds: float = 0.0


def scraper(admin_dsn: str, rate: float, seconds: float, load: Load, stop: threading.Event) -> None:
    """Commit `rate` changes a second, one transaction each."""
    rng = random.Random(7)
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("select max(id) from scrape_pages")
    newest = int(cur.fetchone()[0])
    next_id = newest + 1
    pending: dict[int, Sample] = {}  # the latest sample of each page
    started = time.monotonic()
    while not stop.is_set() and time.monotonic() - started < seconds:
        due = started + load.changes / rate
        if time.monotonic() < due:
            time.sleep(due - time.monotonic())
        draw = rng.random()
        page = newest - rng.randrange(0, max(1, newest // 20))
        if draw < 0.30:
            kind, status = "insert", "pending"
            cur.execute(
                "insert into scrape_pages (id, domain_id, original_url, unix_timestamp, status, "
                "created_at, updated_at) select %s, domain_id, original_url || '?copy', "
                "unix_timestamp, 'pending', now(), now() from scrape_pages where id = %s",
                (next_id, page),
            )
            page = next_id
            next_id += 1
        elif draw < 0.70:
            kind, status = "status", rng.choice(["completed", "failed", "retry", "in_progress"])
            cur.execute(
                "update scrape_pages set status = %s, retry_count = retry_count + 1, "
                "updated_at = now() where id = %s",
                (status, page),
            )
        elif draw < 0.995:
            kind, status = "body", "completed"
            cur.execute(
                "update scrape_pages set status = 'completed', extracted_text = repeat("
                "'Archived text arrives for this page. ', 20 + (id %% 50)::integer), "
                "updated_at = now(), completed_at = now() where id = %s",
                (page,),
            )
        else:
            kind, status = "delete", ""
            cur.execute("delete from scrape_pages where id = %s", (page,))
        load.changes += 1
        earlier = pending.get(page)
        if earlier is not None and earlier.visible is None:
            earlier.superseded = True  # its state may never be visible: not a latency
        if load.changes % 100 == 0 and cur.rowcount == 1:
            sample = Sample(page, kind, time.time(), status)
            load.samples.append(sample)
            pending[page] = sample
    load.seconds = time.monotonic() - started
    conn.close()


def watcher(lake: Lake, load: Load, stop: threading.Event) -> None:
    """Poll the read entry point until every sample is visible as committed."""
    while not stop.is_set():
        pending = [s for s in load.samples if s.visible is None and not s.superseded]
        if pending:
            ids = ", ".join(str(s.page_id) for s in pending)
            try:
                seen = dict(
                    lake.query(
                        f"select scrape_page_id, page_status from content_analytics "
                        f"where scrape_page_id in ({ids})"
                    )
                )
            except Exception:  # the marts may not exist yet at the very start
                seen = {}
            now = time.time()
            for sample in pending:
                gone = sample.kind == "delete" and sample.page_id not in seen
                if gone or seen.get(sample.page_id) == sample.expect:
                    sample.visible = now
        time.sleep(0.5)


def proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds, RSS bytes) of a process and its children's live ones."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    with open(f"/proc/{pid}/status") as handle:
        rss = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmRSS"))
    return cpu, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--interval", type=float, default=30)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/chrono-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    source, env, build = built_for_sync(args.workdir, args.pages, "sync-home")
    print(f"built all marts in {build.seconds:.1f} s", flush=True)

    cli = str(Path(sys.executable).parent / "chrono-analytics")
    log = open(args.workdir / "sync.log", "w")  # noqa: SIM115 - closed below
    sync = subprocess.Popen(
        [cli, "sync", "--interval", str(args.interval)],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    lake = Lake(args.workdir / "lake")
    load = Load()
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=scraper, args=(source.admin_dsn, args.rate, 60 * args.minutes, load, stop)
        ),
        threading.Thread(target=watcher, args=(lake, load, stop), daemon=True),
    ]
    cpu_start, _ = proc_stats(sync.pid)
    wall_start = time.monotonic()
    peak_rss = 0
    for thread in threads:
        thread.start()
    while threads[0].is_alive():
        peak_rss = max(peak_rss, proc_stats(sync.pid)[1])
        time.sleep(1)
    # give the last changes time to arrive, then stop
    settle = time.monotonic() + 3 * args.interval + 60
    while time.monotonic() < settle and any(
        s.visible is None and not s.superseded for s in load.samples
    ):
        peak_rss = max(peak_rss, proc_stats(sync.pid)[1])
        time.sleep(1)
    cpu_end, _ = proc_stats(sync.pid)
    wall = time.monotonic() - wall_start
    stop.set()
    sync.terminate()
    sync.wait(timeout=600)
    log.close()

    latencies = sorted(s.visible - s.committed for s in load.samples if s.visible is not None)
    superseded = sum(1 for s in load.samples if s.visible is None and s.superseded)
    missing = [s for s in load.samples if s.visible is None and not s.superseded]
    cycles = [
        json.loads(line)
        for line in (args.workdir / "sync.log").read_text().splitlines()
        if line.startswith("{") and '"cycle"' in line
    ]
    seconds = [c["seconds"] for c in cycles]
    print(
        f"\nwrites: {load.changes:,} changes in {load.seconds:.0f} s "
        f"({load.changes / max(load.seconds, 1):.1f}/s), {len(load.samples)} samples"
    )
    if latencies:
        q = statistics.quantiles(latencies, n=20, method="inclusive")
        print(
            f"commit -> visible through Lake.query: p50 {statistics.median(latencies):.1f} s, "
            f"p95 {q[18]:.1f} s, max {latencies[-1]:.1f} s; not visible: {len(missing)}; "
            f"changed again before seen (no latency): {superseded}"
        )
    if not seconds:
        print(f"sync: no cycle logged (see {args.workdir / 'sync.log'})")
        return
    print(
        f"sync: {len(cycles)} cycles, cycle time p50 {statistics.median(seconds):.1f} s, "
        f"max {max(seconds):.1f} s; failed cycles {sum(1 for c in cycles if not c['ok'])}"
    )
    print(
        f"sync CPU: {cpu_end - cpu_start:.0f} s over {wall:.0f} s = "
        f"{100 * (cpu_end - cpu_start) / wall:.0f}% of one core; peak RSS "
        f"{peak_rss / 1e6:.0f} MB (the sync process; dbt runs inside it)"
    )


if __name__ == "__main__":
    main()
