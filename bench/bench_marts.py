"""Benchmark of the marts at scale: full build, no-change run, incremental runs, memory, sizes.

    .venv/bin/python bench/bench_marts.py --pages 1000000,3000000 [--delta 10000]
        [--delta-window 100000] [--workdir /tmp/chrono-bench]

For each page count, in one run of this script (so the figures compare side by side), a
dedicated embedded PostgreSQL gets a fresh copy of the synthetic pages (generated once per
shape into a template database), then `dbt run` (from the shell, as analysts run it; the
tests are not part of the figures) times:
1. a full build of cdx_records + content_analytics (and their upstream views) from nothing;
2. a full build of all marts from nothing;
3. a rerun with no source change;
4. an incremental run after the same `--delta` pages changed (10,000 by default, spread over
   the newest `--delta-window` pages, 100,000 by default: the same changed pages at every page
   count, where a scraper's updates land), the figure compared across page counts (its cost
   should follow the delta, not the lake);
5. an incremental run after 1% of the pages changed (it also re-reads step 4's pages, which
   are within the lookback);
6. `dbt run` with no model selected: dbt's own start-up, which every run from the shell pays
   (the share of a full build the no-change and 1% runs cannot go below);
reporting wall time, peak RSS of the dbt process, each mart's own seconds (from the snapshot
it committed) and the lake's bytes against pg_total_relation_size('scrape_pages'). After the
full build of all marts, three analysts' queries on cdx_records (median of 5, through the
lake's reader) and its files per partition show what the file layout costs readers.
`--max-file-rows N` sets CHRONO_LAKE_MAX_FILE_ROWS for every run: the most rows of a file of
each model that sets no `max_file_rows` of its own (cdx_records and content_analytics set
25,000).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

from chrono_analytics.lake.reader import Lake
from common import (
    TimedRun,
    folder_bytes,
    lake_status,
    relation_bytes,
    start_source,
    timed_dbt,
    touch_pages,
    warehouse_env,
)

MARTS = (
    "cdx_records",
    "content_analytics",
    "project_analytics",
    "content_quality_daily",
    "domain_archive_monthly",
    "events",
    "system_performance_hourly",
)


# analysts' queries on cdx_records: a month of one domain pattern, a year's monthly counts,
# a point lookup by archive date
QUERIES = {
    "one month, domains like 'a%'": "select domain, count(*), sum(content_length) from "
    "cdx_records where archive_date >= date '2024-03-01' and archive_date < date '2024-04-01' "
    "and domain like 'a%' group by all",
    "monthly counts of a year": "select processing_month, count(*) from cdx_records where "
    "processing_year = 2024 group by all",
    "one archive date": "select count(*), max(record_id) from cdx_records where archive_date = "
    "date '2023-06-15'",
}


def analyst_queries(lake_root: Path) -> dict[str, float]:
    """Median seconds of 5 runs of each query, through a fresh reader."""
    lake = Lake(lake_root)
    try:
        timings = {}
        for label, query in QUERIES.items():
            seconds = []
            for _ in range(5):
                started = time.perf_counter()
                lake.query(query)
                seconds.append(time.perf_counter() - started)
            timings[label] = statistics.median(seconds)
        return timings
    finally:
        lake.close()


def run_at(
    pages: int, delta: int, delta_window: int, workdir: Path, max_file_rows: int | None
) -> dict[str, object]:
    source, seed_seconds = start_source(workdir, pages)
    if seed_seconds:
        print(f"seeded {pages:,} pages in {seed_seconds:.1f} s", flush=True)
    env = warehouse_env(source.dsn, workdir)
    if max_file_rows is not None:
        env["CHRONO_LAKE_MAX_FILE_ROWS"] = str(max_file_rows)
    lake = workdir / "lake"
    runs: dict[str, TimedRun] = {}
    models: dict[str, dict[str, dict[str, object]]] = {}

    def fresh() -> None:
        shutil.rmtree(lake, ignore_errors=True)
        (workdir / "bench.duckdb").unlink(missing_ok=True)
        timed_dbt(env, "seed")

    def timed(label: str, *args: str) -> None:
        runs[label] = timed_dbt(env, *args)
        models[label] = lake_status(lake)
        print(
            f"  {label}: {runs[label].seconds:.1f} s, {runs[label].peak_rss_mb:.0f} MB", flush=True
        )

    print(f"{pages:,} pages:", flush=True)
    fresh()
    timed(
        "full: cdx_records + content_analytics",
        "run",
        "--full-refresh",
        "--select",
        "+cdx_records",
        "+content_analytics",
    )
    fresh()
    timed("full: all marts", "run", "--full-refresh", "--select", "+marts")
    queries = analyst_queries(lake)
    cdx = Lake(lake).snapshot("cdx_records")
    assert cdx is not None
    folders = {f.path.rsplit("/", 1)[0] for f in cdx.files}
    layout = (
        f"{len(cdx.files)} files in {len(folders)} partitions, "
        f"{max(f.rows for f in cdx.files):,} rows in the largest"
    )
    print(
        f"  cdx_records: {layout}; queries: "
        + ", ".join(f"{label} {seconds * 1000:.0f} ms" for label, seconds in queries.items()),
        flush=True,
    )
    timed("no change", "run", "--select", "marts")
    # the fixed delta first: a later run re-reads the pages earlier runs touched within the
    # lookback (one hour), so only the first change after the no-change run is the same
    # delta at every page count
    changed = touch_pages(source.admin_dsn, delta, delta_window)
    timed(f"{changed:,} pages changed", "run", "--select", "marts")
    changed = touch_pages(source.admin_dsn, pages // 100)
    timed(f"1% changed ({changed:,} pages)", "run", "--select", "marts")
    # what every run from the shell pays before any model: dbt's own start-up, against which
    # the no-change and 1% shares above compare (no per-mart figures: no model runs)
    label = "dbt start-up (no model selected)"
    runs[label] = timed_dbt(env, "run", "--select", "no_model_has_this_name")
    print(f"  {label}: {runs[label].seconds:.1f} s, {runs[label].peak_rss_mb:.0f} MB", flush=True)
    source_bytes = relation_bytes(source.admin_dsn, "scrape_pages")
    sizes = {mart: folder_bytes(lake / mart) for mart in MARTS}
    live = {mart: models["full: all marts"].get(mart, {}).get("bytes", 0) for mart in MARTS}
    return {
        "runs": runs,
        "models": models,
        "source_bytes": source_bytes,
        "sizes": sizes,
        "live": live,
        "queries": queries,
        "layout": layout,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", default="1000000", help="page counts, comma-separated")
    parser.add_argument("--delta", type=int, default=10_000)
    parser.add_argument(
        "--delta-window", type=int, default=100_000, help="the delta's pages: among the newest N"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/chrono-bench"))
    parser.add_argument(
        "--max-file-rows",
        type=int,
        default=None,
        help="CHRONO_LAKE_MAX_FILE_ROWS of every run (models without their own max_file_rows)",
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    sizes = [int(p) for p in args.pages.split(",")]
    results = {
        pages: run_at(pages, args.delta, args.delta_window, args.workdir, args.max_file_rows)
        for pages in sizes
    }

    labels = list(next(iter(results.values()))["runs"])  # type: ignore[call-overload]
    print(f"\n{'run':<44}" + "".join(f"{f'{p:,} pages':>28}" for p in sizes))
    for index, _ in enumerate(labels):
        cells = []
        for pages in sizes:
            runs: dict[str, TimedRun] = results[pages]["runs"]  # type: ignore[assignment]
            label = list(runs)[index]
            run = runs[label]
            full = runs["full: all marts"].seconds
            share = f" ({100 * run.seconds / full:.0f}%)" if index >= 2 else ""
            cells.append(f"{run.seconds:>12.1f} s{share:>7} {run.peak_rss_mb:>5.0f} MB")
        print(f"{labels[index].split(' (')[0]:<44}" + "".join(f"{c:>28}" for c in cells))
    if len(sizes) >= 2:
        first, last = sizes[0], sizes[-1]
        a = list(results[first]["runs"].values())[3].seconds  # type: ignore[attr-defined]
        b = list(results[last]["runs"].values())[3].seconds  # type: ignore[attr-defined]
        print(
            f"\nsame {args.delta:,}-page delta: {b:.1f} s at {last:,} / {a:.1f} s at "
            f"{first:,} pages = {b / a:.2f}x"
        )

    for pages in sizes:
        result = results[pages]
        print(f"\n{pages:,} pages: seconds per mart (its own run, from its snapshot)")
        models: dict[str, dict[str, dict[str, object]]] = result["models"]  # type: ignore[assignment]
        print(f"{'run':<44}" + "".join(f"{m[:14]:>15}" for m in MARTS))
        for label, per_mart in models.items():
            cells = [
                f"{float(per_mart.get(m, {}).get('total_seconds', 0.0)):>15.2f}" for m in MARTS
            ]
            print(f"{label[:44]:<44}" + "".join(cells))
        print(f"cdx_records after the full build: {result['layout']}")
        queries: dict[str, float] = result["queries"]  # type: ignore[assignment]
        for label, seconds in queries.items():
            print(f"  query {label}: {seconds * 1000:.1f} ms (median of 5)")
        source_bytes: int = result["source_bytes"]  # type: ignore[assignment]
        print(f"pg_total_relation_size('scrape_pages') = {source_bytes / 1e6:,.1f} MB")
        live: dict[str, int] = result["live"]  # type: ignore[assignment]
        on_disk: dict[str, int] = result["sizes"]  # type: ignore[assignment]
        for mart in MARTS:
            share = 100 * live[mart] / source_bytes
            print(
                f"  {mart:<28}{live[mart] / 1e6:>9.1f} MB live ({share:5.2f}%)"
                f"{on_disk[mart] / 1e6:>9.1f} MB on disk with superseded files"
            )


if __name__ == "__main__":
    main()
