"""The incremental runs of bench_marts.py through the sync's in-process dbt runner: what a run
costs without dbt's start-up (the manifest is parsed once per process).

    .venv/bin/python bench/bench_cycles.py --pages 1000000 [--delta 10000]
        [--delta-window 100000] [--interval 30] [--workdir /tmp/chrono-bench]

A fresh copy of the synthetic pages, a full build of all marts from the shell (`dbt run`,
timed), then `chrono-analytics sync --interval N --no-gate --no-events
--full-lookback-every 0` (every cycle re-reads the project's whole lookback, as `dbt run`
does). Right after a cycle ends, the script changes the source as bench_marts.py does, so
the next cycle runs on it alone: two cycles without change, then the same `--delta` pages
among the newest `--delta-window`, then 1% of the pages. Reported: each cycle's seconds
(as the sync logs them) against the full build, and the sync process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench_sync import proc_stats
from common import PROJECT_ROOT, built_for_sync, touch_pages


def cycles(log: Path) -> list[dict[str, object]]:
    return [
        json.loads(line)
        for line in log.read_text().splitlines()
        if line.startswith("{") and '"cycle"' in line
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--delta", type=int, default=10_000)
    parser.add_argument("--delta-window", type=int, default=100_000)
    parser.add_argument("--interval", type=float, default=30)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/chrono-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    source, env, build = built_for_sync(args.workdir, args.pages, "cycles-home")
    print(f"{args.pages:,} pages: full build of all marts {build.seconds:.1f} s", flush=True)

    steps: list[tuple[str, int, int | None]] = [("no change", 0, None), ("no change", 0, None)]
    steps.append((f"{args.delta:,} pages changed", args.delta, args.delta_window))
    steps.append((f"1% changed ({args.pages // 100:,} pages)", args.pages // 100, None))
    log = args.workdir / "cycles.log"
    cli = str(Path(sys.executable).parent / "chrono-analytics")
    peak_rss = 0
    results: list[tuple[str, dict[str, object]]] = []
    with open(log, "w") as out:
        sync = subprocess.Popen(
            [
                *(cli, "sync", "--interval", str(args.interval), "--no-gate", "--no-events"),
                *("--full-lookback-every", "0"),
            ],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )

        def wait_for(count: int) -> dict[str, object]:
            nonlocal peak_rss
            while len(cycles(log)) < count:
                assert sync.poll() is None, log.read_text()[-3000:]
                peak_rss = max(peak_rss, proc_stats(sync.pid)[1])
                time.sleep(0.2)
            return cycles(log)[count - 1]

        try:
            wait_for(1)  # the first cycle after the build
            for label, count, window in steps:
                done = len(cycles(log))
                if count:  # right after a cycle: the next one starts `--interval` after it
                    touch_pages(source.admin_dsn, count, window)
                results.append((label, wait_for(done + 1)))
        finally:
            sync.terminate()
            sync.wait(timeout=300)
            source.server.down()
    for label, cycle in results:
        seconds = float(cycle["seconds"])  # type: ignore[arg-type]
        share = 100 * seconds / build.seconds
        print(
            f"  {label:<32}{seconds:8.1f} s ({share:4.1f}% of the full build), "
            f"ok={cycle['ok']}, {cycle['changed_rows']} rows changed",
            flush=True,
        )
    print(f"  peak RSS of the sync process: {peak_rss / 2**20:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
