"""Benchmark of the incremental_parquet materialization (not a test).

On N synthetic source pages (default 1,000,000) in an embedded PostgreSQL of its own, it times
a full build of a cdx_records-like model (35 columns of scrape_pages, no page bodies,
partitioned by archive year and month: the issue-5 baseline's layout), a rerun without source
change, and incremental runs after changing 1% and 0.1% of the rows, spread over the recent
partitions (archive years 2020 and later), as the application would (status, retry_count,
updated_at). It prints wall times, the ratio incremental / full, and where the time goes,
from the line each run of the materialization logs (read = building the delta from the
source, compute = comparing and merging, write = the Parquet COPYs, swap = journal and
renames; dbt = the rest of the dbt process: start-up, parsing, hooks).

    .venv/bin/python bench/bench_incremental.py [--pages N] [--partition year|month]
        [--workdir DIR] [--port PORT] [--keep-server]

The source is seeded once per shape and reused by later runs from the same --workdir; the
server is stopped at the end unless --keep-server.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psycopg2

from chrono_analytics import reader_role, source_db
from chrono_analytics.config import READER_ROLE, embedded_admin_dsn, embedded_dsn
from chrono_analytics.pgserver import EmbeddedServer

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT = str(Path(sys.executable).parent / "dbt")
MODEL = "bench_pages"
DATABASE = "chrono_bench_incremental"

PARTITIONS = {
    "year": "[{'name': 'archive_year', 'data_type': 'integer'}]",
    "month": (
        "[{'name': 'archive_year', 'data_type': 'integer'}, "
        "{'name': 'archive_month', 'data_type': 'integer'}]"
    ),
}

MODEL_SQL = """\
{{{{ config(
    materialized='incremental_parquet',
    unique_key='scrape_page_id',
    partition_by={partition_by},
) }}}}

with pages as (
    select * from chrono_pg.public.scrape_pages
    {{% if is_incremental() %}}
        where updated_at > {{{{ incremental_watermark() }}}}
    {{% endif %}}
)

select
    id as scrape_page_id,
    domain_id,
    scrape_session_id,
    original_url,
    content_url,
    unix_timestamp as wayback_timestamp,
    mime_type,
    status_code,
    content_length,
    digest_hash,
    title,
    extraction_method,
    filter_reason,
    filter_category,
    status,
    error_message,
    error_type,
    filter_confidence,
    priority_score,
    retry_count,
    max_retries,
    fetch_time,
    extraction_time,
    total_processing_time,
    is_pdf,
    is_duplicate,
    is_list_page,
    is_manually_overridden,
    {{{{ parse_wayback_timestamp('unix_timestamp') }}}} as archived_at,
    cast(extract(year from {{{{ parse_wayback_timestamp('unix_timestamp') }}}} at time zone 'UTC')
        as integer) as archive_year,
    cast(extract(month from {{{{ parse_wayback_timestamp('unix_timestamp') }}}} at time zone 'UTC')
        as integer) as archive_month,
    first_seen_at,
    last_attempt_at,
    completed_at,
    created_at,
    updated_at
from pages
"""

PROJECT_YML = """\
name: bench_incremental
version: "0.1.0"
config-version: 2
profile: bench_incremental
model-paths: ["models"]
macro-paths: ["{macros}"]
flags:
  send_anonymous_usage_stats: false
on-run-start:
  - "{{{{ register_incremental_parquet_views() }}}}"
vars:
  lookback_hours: 1
"""

PROFILES_YML = """\
bench_incremental:
  target: bench
  outputs:
    bench:
      type: duckdb
      path: "{duckdb}"
      threads: 2
      external_root: "{lake}"
      plugins:
        - module: chrono_analytics.dbt_plugin
          alias: chrono
          config:
            source_alias: chrono_pg
"""

SUMMARY = re.compile(
    rf"incremental_parquet {MODEL}: (?P<mode>full refresh|incremental), (?P<delta>\d+) delta rows, "
    r"(?P<changed>\d+) changed, (?P<written>\d+) partitions written, (?P<phase1>\d+) rewritten "
    r"first without moved keys, (?P<removed>\d+) removed, of (?P<before>\d+) before, "
    r"(?P<deleted>\d+) stored rows deleted; timings: "
    r"read (?P<read>[\d.]+)s compute (?P<compute>[\d.]+)s write (?P<write>[\d.]+)s "
    r"swap (?P<swap>[\d.]+)s total (?P<total>[\d.]+)s"
)


@dataclass(frozen=True)
class Run:
    label: str
    wall: float
    read: float
    compute: float
    write: float
    swap: float
    total: float
    delta_rows: int
    changed: int
    written: int
    before: int

    @property
    def dbt_overhead(self) -> float:
        return self.wall - self.total


def write_project(folder: Path, workdir: Path, partition: str) -> None:
    (folder / "models").mkdir(parents=True, exist_ok=True)
    macros = os.path.relpath(PROJECT_ROOT / "macros", folder)
    (folder / "dbt_project.yml").write_text(PROJECT_YML.format(macros=macros))
    (folder / "profiles.yml").write_text(
        PROFILES_YML.format(duckdb=workdir / "bench.duckdb", lake=workdir / "lake")
    )
    (folder / "models" / f"{MODEL}.sql").write_text(
        MODEL_SQL.format(partition_by=PARTITIONS[partition])
    )


def run_dbt(project: Path, dsn: str, label: str, *args: str) -> Run:
    """One dbt run of the model; the plugin attaches the source of `dsn` (CHRONO_PG_DSN)."""
    started = time.perf_counter()
    result = subprocess.run(
        [DBT, "run", "--select", MODEL, *args, "--target-path", str(project / "target")],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "CHRONO_PG_DSN": dsn, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"dbt run ({label}) failed:\n{result.stdout[-4000:]}")
    found = SUMMARY.search(result.stdout)
    if found is None:
        raise SystemExit(f"no incremental_parquet summary in the output of {label}")
    return Run(
        label=label,
        wall=wall,
        read=float(found["read"]),
        compute=float(found["compute"]),
        write=float(found["write"]),
        swap=float(found["swap"]),
        total=float(found["total"]),
        delta_rows=int(found["delta"]),
        changed=int(found["changed"]),
        written=int(found["written"]),
        before=int(found["before"]),
    )


def touch_recent(dsn: str, fraction: float, pages: int, residue: int) -> int:
    """Update `fraction` of all pages, taken from archive years 2020 and later, with an
    updated_at after every existing one (the synthetic data's updated_at reach past today)."""
    recent = "unix_timestamp ~ '^202[0-9]{11}$'"
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"select count(*) from scrape_pages where {recent}")
            row = cur.fetchone()
            recent_rows = int(row[0]) if row else 0
            step = max(1, round(recent_rows / (fraction * pages)))
            cur.execute(
                "update scrape_pages set status = 'completed', retry_count = retry_count + 1, "
                "updated_at = (select max(updated_at) from scrape_pages) + interval '1 second' "
                f"where {recent} and id %% %s = %s",
                (step, residue % step),
            )
            return cur.rowcount
    finally:
        conn.close()


def lake_check(workdir: Path, dsn: str, depth: int) -> str:
    pattern = f"{workdir}/lake/{MODEL}/{'*/' * depth}data_0.parquet"
    with duckdb.connect() as conn:
        files, size = conn.execute(
            f"select count(*), sum(total_compressed_size) from ("
            f"select file_name, sum(total_compressed_size) as total_compressed_size "
            f"from parquet_metadata('{pattern}') group by file_name)"
        ).fetchone() or (0, 0)
        count, distinct = conn.execute(
            f"select count(*), count(distinct scrape_page_id) from read_parquet('{pattern}', "
            "hive_partitioning = true, union_by_name = true)"
        ).fetchone() or (0, 0)
    conn_pg = psycopg2.connect(dsn)
    try:
        with conn_pg.cursor() as cur:
            cur.execute("select count(*) from scrape_pages")
            row = cur.fetchone()
            source = int(row[0]) if row else -1
    finally:
        conn_pg.close()
    verdict = "OK" if count == distinct == source else "MISMATCH"
    return (
        f"lake: {files} files, {int(size or 0) / 1e6:.1f} MB compressed; rows {count:,}, "
        f"distinct keys {distinct:,}, source rows {source:,}: {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--partition", choices=sorted(PARTITIONS), default="month")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/chrono-bench-incremental"))
    parser.add_argument("--port", type=int, default=55493)
    parser.add_argument("--keep-server", action="store_true")
    args = parser.parse_args()

    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    server = EmbeddedServer(workdir / "pgdata", args.port)
    server.up()
    try:
        server.ensure_database(DATABASE)
        dsn = embedded_dsn(args.port, DATABASE)  # the warehouse's read-only role, for dbt
        admin_dsn = embedded_admin_dsn(args.port, DATABASE)  # generates and changes rows
        reader_role.setup_embedded_reader(admin_dsn, READER_ROLE, DATABASE)
        shape = source_db.SyntheticShape(pages=args.pages)
        if source_db.seeded_shape(admin_dsn) != shape:
            seconds = source_db.seed(admin_dsn, shape)
            print(f"seeded {args.pages:,} pages in {seconds:.1f}s")
        else:
            print(f"reusing the {args.pages:,} pages seeded in {workdir / 'pgdata'}")
        project = workdir / "project"
        write_project(project, workdir, args.partition)

        runs = [run_dbt(project, dsn, "full build", "--full-refresh")]
        runs.append(run_dbt(project, dsn, "rerun, no source change"))
        for fraction, residue in ((0.01, 1), (0.001, 2)):
            changed = touch_recent(admin_dsn, fraction, args.pages, residue)
            runs.append(run_dbt(project, dsn, f"{fraction:.1%} changed ({changed:,} rows)"))

        full = runs[0]
        print(
            f"\nincremental_parquet: {args.pages:,} pages, model {MODEL} (35 columns), "
            f"partitioned by archive {'year' if args.partition == 'year' else 'year/month'} "
            f"({full.written} partitions)"
        )
        header = (
            f"{'run':<32}{'wall s':>8}{'read s':>8}{'compute':>9}{'write s':>9}{'swap s':>8}"
            f"{'dbt s':>7}{'delta':>10}{'changed':>10}{'files':>7}"
        )
        print(header)
        print("-" * len(header))
        for run in runs:
            print(
                f"{run.label:<32}{run.wall:>8.2f}{run.read:>8.2f}{run.compute:>9.2f}"
                f"{run.write:>9.2f}{run.swap:>8.2f}{run.dbt_overhead:>7.2f}{run.delta_rows:>10,}"
                f"{run.changed:>10,}{run.written:>7}"
            )
        print("-" * len(header))
        for run in runs[2:]:
            print(
                f"ratio incremental/full, {run.label}: wall {run.wall / full.wall:.3f}, "
                f"materialization only {run.total / full.total:.3f}"
            )
        print(lake_check(workdir, dsn, 2 if args.partition == "month" else 1))
    finally:
        if not args.keep_server:
            server.down()


if __name__ == "__main__":
    main()
