"""Benchmark of the read path: reader latency while the marts commit, the cost of a commit,
and the bytes superseded files hold.

    .venv/bin/python bench/bench_readers.py --pages 1000000 [--seconds 120] [--workdir DIR]

Builds all marts once on N synthetic pages, then:
1. runs an analyst's query on cdx_records and one on project_analytics, in a loop through the
   read entry point (chrono_analytics.lake.reader.Lake.query), for --seconds with no writer:
   p50/p95 latency;
2. the same while another process commits the page marts continuously (dbt incremental runs
   after 1,000 pages changed each, in one dbtRunner process), sampling the bytes of superseded
   files every second: latency, failures, commits, bytes held;
3. reports each commit's cost as the snapshots recorded it (the Python side: verify, fsync,
   publish; and the whole run of each mart);
4. the read entry point's own cost (`Lake.query("select 1")`: the look at every mart's
   snapshots before each query) on this lake, and on a hard-linked copy of it whose marts
   hold the full history a vacuum keeps (DEFAULT_HISTORY_SNAPSHOTS manifests each), as a sync
   that has committed for a while leaves them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from chrono_analytics.lake.reader import Lake
from chrono_analytics.lake.settings import DEFAULT_HISTORY_SNAPSHOTS
from chrono_analytics.lake.snapshot import list_versions, snapshot_path
from chrono_analytics.lake.store import open_store
from chrono_analytics.lake.writer import superseded_bytes
from common import PROJECT_ROOT, lake_status, start_source, timed_dbt, warehouse_env

QUERIES = {
    "cdx: one archive month": (
        "select count(*), sum(content_length) from cdx_records "
        "where archive_date between date '2015-03-01' and date '2015-03-31'"
    ),
    "project_analytics: 30 days": (
        "select sum(total_pages_discovered), avg(error_rate) from project_analytics "
        "where aggregation_level = 'project' and analytics_date >= current_date - 30"
    ),
}

WRITER = """
import sys, time, psycopg2
sys.path.insert(0, {bench!r})
from dbt.cli.main import dbtRunner
from common import touch_pages
runner = dbtRunner()
deadline = time.monotonic() + {seconds}
commits = 0
while time.monotonic() < deadline:
    touch_pages({dsn!r}, 1000)
    result = runner.invoke(["run", "--select", "cdx_records", "content_analytics",
                            "project_analytics", "--quiet"])
    if not result.success:
        raise SystemExit(str(result.exception))
    commits += 1
print(commits)
"""


def latencies(
    lake: Lake, seconds: float, stop: threading.Event | None = None
) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {name: [] for name in QUERIES}
    failures: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (stop and stop.is_set()):
        for name, query in QUERIES.items():
            started = time.perf_counter()
            try:
                lake.query(query)
            except Exception as exc:  # a failure is a finding
                failures.append(repr(exc))
                continue
            found[name].append(1000 * (time.perf_counter() - started))
    found["failures"] = [float(len(failures))]
    return found


def pct(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0]
    # inclusive: a percentile of a few samples stays within them
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def with_full_history(lake_root: Path, copy_root: Path, versions: int) -> None:
    """A copy of the lake (data files hard-linked) in which each mart's newest snapshot is
    committed again, unchanged, under every later version up to `versions`."""
    shutil.rmtree(copy_root, ignore_errors=True)
    shutil.copytree(lake_root, copy_root, copy_function=os.link)
    lake = Lake(copy_root)
    for mart in lake.marts():
        store = open_store(lake.location(mart))
        newest = list_versions(store)[-1]
        manifest = json.loads(store.read_text(snapshot_path(newest)) or "{}")
        for version in range(newest + 1, versions + 1):
            manifest["version"] = version
            store.put_new(snapshot_path(version), json.dumps(manifest))


def own_cost_ms(lake_root: Path, queries: int = 200) -> float:
    """Median milliseconds of `Lake.query("select 1")`: what the read entry point adds to
    every query."""
    lake = Lake(lake_root)
    try:
        lake.query("select 1")
        seconds = []
        for _ in range(queries):
            started = time.perf_counter()
            lake.query("select 1")
            seconds.append(time.perf_counter() - started)
        return 1000 * statistics.median(seconds)
    finally:
        lake.close()


def report_own_cost(lake_root: Path, workdir: Path) -> None:
    held = len(list_versions(open_store(Lake(lake_root).location("cdx_records"))))
    full = workdir / "lake-full-history"
    with_full_history(lake_root, full, DEFAULT_HISTORY_SNAPSHOTS)
    print(
        f"\nthe read entry point's own cost, Lake.query('select 1'), median of 200: "
        f"{own_cost_ms(lake_root):.2f} ms with {held} snapshots per mart, "
        f"{own_cost_ms(full):.2f} ms with {DEFAULT_HISTORY_SNAPSHOTS}"
    )
    shutil.rmtree(full)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/chrono-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    source, _ = start_source(args.workdir, args.pages)
    env = warehouse_env(source.dsn, args.workdir)
    timed_dbt(env, "seed")
    build = timed_dbt(env, "run", "--full-refresh", "--select", "+marts")
    print(f"built all marts in {build.seconds:.1f} s", flush=True)
    lake = Lake(args.workdir / "lake")

    quiet = latencies(lake, args.seconds / 2)
    before = {
        m: s["version"]
        for m, s in ((m, {"version": lake.snapshot(m).version}) for m in lake.marts())
    }  # type: ignore[union-attr]

    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            WRITER.format(
                bench=str(Path(__file__).parent), seconds=args.seconds, dsn=source.admin_dsn
            ),
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    held: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            held.append(sum(superseded_bytes(open_store(lake.location(m))) for m in lake.marts()))
            time.sleep(1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    busy = latencies(lake, args.seconds)
    out, _ = writer.communicate()
    stop.set()
    sampler.join()

    print(f"\nreader latency through Lake.query, ms ({args.pages:,} pages)")
    print(f"{'query':<32}{'quiet p50':>10}{'p95':>8}{'n':>6}{'commits p50':>13}{'p95':>8}{'n':>6}")
    for name in QUERIES:
        q, b = quiet[name], busy[name]
        print(
            f"{name:<32}{pct(q, 50):>10.1f}{pct(q, 95):>8.1f}{len(q):>6}"
            f"{pct(b, 50):>13.1f}{pct(b, 95):>8.1f}{len(b):>6}"
        )
    failed = (quiet["failures"][0], busy["failures"][0])
    print(f"failed queries: quiet {failed[0]:.0f}, during commits {failed[1]:.0f}")
    status = lake_status(args.workdir / "lake")
    commits = {m: lake.snapshot(m).version - before[m] for m in ("cdx_records",)}  # type: ignore[union-attr]
    print(
        f"runs committed meanwhile: {out.strip()} (cdx_records snapshots: {commits['cdx_records']})"
    )
    retention = os.environ.get("CHRONO_LAKE_RETENTION_SECONDS", "600")
    print(
        f"superseded bytes held (retention {retention} s): median "
        f"{statistics.median(held) / 1e6:.1f} MB, max {max(held) / 1e6:.1f} MB"
    )
    print("\nlast commit of each page mart (from its snapshot):")
    for mart in ("cdx_records", "content_analytics", "project_analytics"):
        run = status[mart]
        print(
            f"  {mart:<20} commit {float(run.get('commit_seconds', 0)):.3f} s of "
            f"{float(run.get('total_seconds', 0)):.2f} s; {run.get('files_written')} files "
            f"written, {run.get('changed_rows')} rows changed"
        )
    report_own_cost(args.workdir / "lake", args.workdir)


if __name__ == "__main__":
    main()
