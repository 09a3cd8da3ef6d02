"""Benchmark of the marts at scale (issue 5): full build, incremental build, memory, sizes.

    .venv/bin/python bench/bench_marts.py --pages 1000000 [--workdir /tmp/chrono-bench]

Gives a dedicated embedded PostgreSQL a fresh copy of the synthetic pages (generated once per
shape into a template database), then times, with `dbt run` (the build; the tests are not
part of the figures):
1. a full build of cdx_records + content_analytics (and their upstream views) from nothing;
2. a full build of all marts from nothing;
3. an incremental run of the marts after 1% of the pages changed;
reporting wall time, peak RSS of the dbt process, each incremental_parquet model's own
timings (as it logs them) and the Parquet bytes of each mart against
pg_total_relation_size('scrape_pages').
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import duckdb

from common import (
    folder_bytes,
    relation_bytes,
    start_source,
    timed_dbt,
    touch_pages,
    warehouse_env,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/chrono-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    source, seed_seconds = start_source(args.workdir, args.pages)
    if seed_seconds:
        print(f"seeded {args.pages:,} pages in {seed_seconds:.1f} s")
    env = warehouse_env(source.dsn, args.workdir)
    lake = args.workdir / "lake"
    build = ("run", "--full-refresh")

    rows: list[tuple[str, float, float]] = []
    for label, selection in (
        (
            "full: cdx_records + content_analytics",
            ("--select", "+cdx_records", "+content_analytics"),
        ),
        ("full: all marts", ("--select", "+marts")),
    ):
        shutil.rmtree(lake, ignore_errors=True)
        (args.workdir / "bench.duckdb").unlink(missing_ok=True)
        timed_dbt(env, "seed")
        run = timed_dbt(env, *build, *selection)
        rows.append((label, run.seconds, run.peak_rss_mb))
        print_model_timings(label, run.stdout)

    changed = touch_pages(source.admin_dsn, 0.01)
    label = f"incremental: all marts after {changed:,} pages changed"
    run = timed_dbt(env, "run", "--select", "marts")
    rows.append((label, run.seconds, run.peak_rss_mb))
    print_model_timings(label, run.stdout)

    print(f"\n{'run':<55}{'wall s':>9}{'peak RSS MB':>13}")
    for label, seconds, rss in rows:
        print(f"{label:<55}{seconds:>9.1f}{rss:>13.0f}")
    print_query_timings(lake / "cdx_records", args.workdir / "layouts")
    source_bytes = relation_bytes(source.admin_dsn, "scrape_pages")
    print(f"\npg_total_relation_size('scrape_pages') = {source_bytes / 1e6:,.1f} MB")
    for mart in ("cdx_records", "content_analytics", "project_analytics", "events"):
        size = folder_bytes(lake / mart)
        print(f"  {mart:<20}{size / 1e6:>10.1f} MB  {100 * size / source_bytes:>6.2f} % of it")


CDX_QUERIES = {
    "one archive month": (
        "select count(*), sum(content_length) from {cdx} "
        "where archive_date between date '2015-03-01' and date '2015-03-31'"
    ),
    "one domain": "select count(*), max(archive_date) from {cdx} where domain = '{domain}'",
    "per archive year": "select archive_year, count(*), avg(content_length) from {cdx} group by 1",
    "last processing month": (
        "select count(*) from {cdx} where processing_date >= date '2026-11-01'"
    ),
}


def print_query_timings(built: Path, scratch: Path) -> None:
    """Analysts' queries on cdx_records as built, and on two other layouts of the same rows:
    one folder per archive year (the previous layout) and one single file; best of 3 runs."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    built_glob = f"{built}/*/data_0.parquet"
    layouts = {
        "as built (by processing year)": f"read_parquet('{built_glob}')",
        "by archive year": f"read_parquet('{scratch}/by_archive_year/*/*.parquet', "
        "hive_partitioning = true)",
        "one file": f"read_parquet('{scratch}/one.parquet')",
    }
    with duckdb.connect() as conn:
        conn.execute("set enable_progress_bar = false")
        conn.execute(
            f"copy (select * from read_parquet('{built_glob}')) to '{scratch}/by_archive_year' "
            "(format parquet, compression zstd, partition_by (archive_year))"
        )
        conn.execute(
            f"copy (select * from read_parquet('{built_glob}') order by archive_date, domain) "
            f"to '{scratch}/one.parquet' (format parquet, compression zstd, row_group_size 20000)"
        )
        domain = conn.execute(
            f"select domain from read_parquet('{built_glob}') group by 1 order by count(*) desc "
            "limit 1"
        ).fetchone()
        print("\ncdx_records queries, best of 3 (s):")
        print(f"{'query':<24}" + "".join(f"{name:>32}" for name in layouts))
        for label, query in CDX_QUERIES.items():
            cells = []
            for source in layouts.values():
                statement = query.format(cdx=source, domain=domain[0] if domain else "")
                best = min(_timed(conn, statement) for _ in range(3))
                cells.append(f"{best:>32.3f}")
            print(f"{label:<24}" + "".join(cells))


def _timed(conn: duckdb.DuckDBPyConnection, statement: str) -> float:
    started = time.perf_counter()
    conn.execute(statement).fetchall()
    return time.perf_counter() - started


def print_model_timings(label: str, dbt_stdout: str) -> None:
    print(f"{label}:")
    for line in dbt_stdout.splitlines():
        if "incremental_parquet" in line and "timings:" in line:
            print("   ", line.split("incremental_parquet", 1)[1].strip())


if __name__ == "__main__":
    main()
