"""Latency of the analytics API: p50/p95/p99 per endpoint with 1 and 8 concurrent clients,
against running servers (`chrono-analytics serve`), the lake backend and the PostgreSQL
backend side by side, from one run.

    python bench/bench_api.py --pages 1000000

Builds a source of --pages synthetic pages on a server of its own (bench/common.py), two
days of application events, and what the API needs (`dbt run --select
+exposure:analytics_api`); starts one server per backend; then sends the same requests
(several date ranges and one project per endpoint, round robin) from 1 and from 8 client
threads, each with its own HTTP connection. The PostgreSQL backend gets fewer requests
(--pg-requests): it computes every answer from the source tables.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from chrono_analytics.api.service import LAKE_MARTS
from chrono_analytics.events import EventWriter, generate_demo_events
from chrono_analytics.lake.reader import Lake

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, start_source, timed_dbt, warehouse_env

CLIENTS = (1, 8)


def requests_per_endpoint(lake_root: Path) -> dict[str, list[str]]:
    """Several ranges per endpoint, taken from the data, and one project."""
    lake = Lake(lake_root)
    first, last = lake.query(
        "select min(analytics_date), max(analytics_date) from project_performance_daily"
    )[0]
    project = lake.query(
        "select project_id from project_performance_daily group by project_id "
        "order by sum(pages_discovered) desc limit 1"
    )[0][0]
    middle = first + (last - first) / 2
    ranges = [(first, last), (middle, middle + timedelta(days=30)), (middle, middle)]
    api = "/api/v1/analytics"
    return {
        "performance/summary": [
            f"{api}/performance/summary?start_date={s}&end_date={e}" for s, e in ranges
        ]
        + [f"{api}/performance/summary?start_date={first}&end_date={last}&project_id={project}"],
        "domains/analysis": [
            f"{api}/domains/analysis?start_date=1990-01-01&end_date=2030-12-31",
            f"{api}/domains/analysis?start_date=2012-03-15&end_date=2016-08-02&limit=200",
            f"{api}/domains/analysis?start_date=2015-06-01&end_date=2015-06-30&limit=10",
        ],
        "content/quality-distribution": [
            f"{api}/content/quality-distribution?start_date={s}&end_date={e}" for s, e in ranges
        ],
        "system/performance": [f"{api}/system/performance?hours_back={h}" for h in (1, 24, 168)],
        "health": ["/api/v1/health"],
    }


def measure(base: str, paths: list[str], clients: int, total: int) -> tuple[list[float], int]:
    """`total` requests over `clients` threads; the latencies (ms) and the failures."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    per_client = max(1, total // clients)

    def client(number: int) -> None:
        nonlocal failures
        with httpx.Client(base_url=base, timeout=600) as http:
            http.get(paths[0])  # connect and warm up outside the measurement
            for i in range(per_client):
                path = paths[(number + i) % len(paths)]
                started = time.perf_counter()
                response = http.get(path)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200:
                        failures += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, failures


def percentiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        value = values[0] if values else float("nan")
        return value, value, value
    q = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values), q[94], q[98]


def start_server(env: dict[str, str], backend: str, port: int) -> subprocess.Popen[bytes]:
    cli = str(Path(sys.executable).parent / "chrono-analytics")
    server = subprocess.Popen(
        [cli, "serve", "--port", str(port), "--backend", backend],
        cwd=PROJECT_ROOT,
        env=env,
    )
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5).status_code:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.terminate()
    raise SystemExit(f"the {backend} server did not start on port {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument(
        "--requests", type=int, default=400, help="per endpoint and client count, lake"
    )
    parser.add_argument("--pg-requests", type=int, default=8, help="the same, PostgreSQL")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/chrono-bench-api"))
    parser.add_argument("--port", type=int, default=18710, help="first API port (two are used)")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    source, seed_seconds = start_source(args.workdir, args.pages)
    env = warehouse_env(source.dsn, args.workdir)
    lake_root = args.workdir / "lake"
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with EventWriter(lake_root / "raw" / "events", flush_interval_s=None) as writer:
        generate_demo_events(
            writer, pages=2000, users=20, projects=50, start=end - timedelta(days=2), end=end
        )
    timed_dbt(env, "seed")
    build = timed_dbt(env, "run", "--full-refresh", "--select", "+exposure:analytics_api")
    print(
        f"{args.pages:,} pages (generated in {seed_seconds:.0f} s); "
        f"dbt run --select +exposure:analytics_api: {build.seconds:.0f} s",
        flush=True,
    )
    lake = Lake(lake_root)
    for mart in LAKE_MARTS:
        snapshot = lake.snapshot(mart)
        if snapshot is not None:
            print(f"  {mart:<28}{snapshot.rows:>12,} rows{snapshot.bytes:>14,} bytes", flush=True)
    env = {**os.environ, **env}
    endpoints = requests_per_endpoint(lake_root)
    results: dict[tuple[str, str, int], tuple[tuple[float, float, float], int, int]] = {}
    for number, backend in enumerate(("lake", "postgres")):
        port = args.port + number
        server = start_server(env, backend, port)
        total = args.requests if backend == "lake" else args.pg_requests
        try:
            for endpoint, paths in endpoints.items():
                for clients in CLIENTS:
                    count = max(total, clients)
                    latencies, failures = measure(f"http://127.0.0.1:{port}", paths, clients, count)
                    results[(endpoint, backend, clients)] = (
                        percentiles(latencies),
                        failures,
                        len(latencies),
                    )
                    p50, p95, p99 = results[(endpoint, backend, clients)][0]
                    print(
                        f"  {backend:<8} {endpoint:<30} {clients} client(s): "
                        f"p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  p99 {p99:8.1f} ms  "
                        f"({len(latencies)} requests, {failures} failed)",
                        flush=True,
                    )
        finally:
            server.terminate()
            server.wait(timeout=60)

    print(f"\nanalytics API at {args.pages:,} pages: lake vs PostgreSQL backend (ms)")
    print(
        f"{'endpoint':<30}{'clients':>8}{'lake p50':>10}{'p95':>8}{'p99':>8}"
        f"{'pg p50':>10}{'p95':>9}{'p99':>9}{'p50 x':>9}{'p95 x':>9}"
    )
    for endpoint in endpoints:
        for clients in CLIENTS:
            lake_p, lake_failed, _ = results[(endpoint, "lake", clients)]
            pg_p, pg_failed, _ = results[(endpoint, "postgres", clients)]
            flag = " FAILURES" if lake_failed or pg_failed else ""
            print(
                f"{endpoint:<30}{clients:>8}{lake_p[0]:>10.1f}{lake_p[1]:>8.1f}{lake_p[2]:>8.1f}"
                f"{pg_p[0]:>10.1f}{pg_p[1]:>9.1f}{pg_p[2]:>9.1f}"
                f"{pg_p[0] / lake_p[0]:>8.0f}x{pg_p[1] / lake_p[1]:>8.0f}x{flag}"
            )


if __name__ == "__main__":
    main()
