"""A writer for test_api.py: full-refresh dbt runs of the reporting marts the API reads, in one
process (dbtRunner, the manifest parsed once); each run commits a new snapshot of each of them
(new files; the superseded ones are vacuumed after the retention time). Prints the versions
committed, one JSON line per run.

Usage: python api_writer_loop.py <runs> <target dir>
"""

from __future__ import annotations

import json
import sys

from dbt.cli.main import dbtRunner

from chrono_analytics.config import load_settings
from chrono_analytics.lake.reader import Lake

MARTS = ("performance_daily", "project_members", "content_quality_daily")


def main() -> None:
    runs, target = int(sys.argv[1]), sys.argv[2]
    base = ["--target-path", target, "--quiet", "--no-write-json"]
    parsed = dbtRunner().invoke(["parse", *base])
    if not parsed.success:
        raise SystemExit(f"dbt parse failed: {parsed.exception}")
    runner = dbtRunner(manifest=parsed.result)
    lake = Lake(load_settings().lake_root)
    for step in range(runs):
        result = runner.invoke(["run", "--select", *MARTS, "--full-refresh", *base])
        if not result.success:
            raise SystemExit(f"dbt run failed at step {step}: {result.exception}")
        versions = {mart: lake.snapshot(mart).version for mart in MARTS}  # type: ignore[union-attr]
        print(json.dumps(versions), flush=True)


if __name__ == "__main__":
    main()
