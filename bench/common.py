"""Shared pieces of the benchmarks: a dedicated embedded server, timed dbt runs with peak RSS."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from chrono_analytics import reader_role, source_db
from chrono_analytics.config import READER_ROLE, embedded_admin_dsn, embedded_dsn
from chrono_analytics.pgserver import EmbeddedServer

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT = str(Path(sys.executable).parent / "dbt")


def bench_port(workdir: Path) -> int:
    """The port of the bench server under workdir: 55491 for the default workdir, another
    (stable) port for any other, so two benches in different workdirs never share a server."""
    if workdir.resolve() == Path("/tmp/chrono-bench"):
        return 55491
    return 55500 + zlib.crc32(str(workdir.resolve()).encode()) % 400


TEMPLATE_PREFIX = "chrono_bench_template"  # one template database per page count
BENCH_DATABASE = "chrono_bench"


@dataclass
class BenchSource:
    server: EmbeddedServer
    dsn: str  # the warehouse's read-only role, for dbt
    admin_dsn: str  # the admin, for changing source rows


def start_source(workdir: Path, pages: int, seed: int = 42) -> tuple[BenchSource, float]:
    """A server of its own under workdir with a fresh copy of `pages` synthetic pages.

    The pages are generated once into a template database (again only when the shape
    differs); every call then recreates the bench database from the template, so a run
    starts from the same data whatever earlier runs (touch_pages) changed."""
    port = bench_port(workdir)
    server = EmbeddedServer(workdir / "pgdata", port)
    server.up()
    template = f"{TEMPLATE_PREFIX}_{pages}"
    server.ensure_database(template)
    template_dsn = embedded_admin_dsn(port, template)
    reader_role.setup_embedded_reader(template_dsn, READER_ROLE, template)
    shape = source_db.SyntheticShape(pages=pages, seed=seed)
    seconds = 0.0
    if source_db.seeded_shape(template_dsn) != shape:
        seconds = source_db.seed(template_dsn, shape)
    admin = psycopg2.connect(embedded_admin_dsn(port, "postgres"))
    try:
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"drop database if exists {BENCH_DATABASE} with (force)")
            cur.execute(f"create database {BENCH_DATABASE} template {template} strategy file_copy")
    finally:
        admin.close()
    # a copied database keeps the template's table grants, not its database-level ones
    bench_admin_dsn = embedded_admin_dsn(port, BENCH_DATABASE)
    reader_role.setup_embedded_reader(bench_admin_dsn, READER_ROLE, BENCH_DATABASE)
    return BenchSource(server, embedded_dsn(port, BENCH_DATABASE), bench_admin_dsn), seconds


@dataclass(frozen=True)
class TimedRun:
    seconds: float
    peak_rss_mb: float
    stdout: str


_packages_installed = False


def install_dbt_packages(env: dict[str, str]) -> None:
    """`dbt deps` once per bench process: packages.yml names a local package, which a fresh
    clone has not installed (make setup does not run dbt; make demo and make test do)."""
    global _packages_installed
    if not _packages_installed:
        subprocess.run(
            [DBT, "deps", "--quiet"], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True
        )
        _packages_installed = True


def timed_dbt(env: dict[str, str], *args: str) -> TimedRun:
    """Run dbt; its wall time and peak RSS (measured by GNU time for this process alone). The
    project's dbt packages are installed first, untimed."""
    install_dbt_packages(env)
    with tempfile.NamedTemporaryFile("r") as rss_file:
        started = time.perf_counter()
        result = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", rss_file.name, DBT, *args],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        peak_kb = int(rss_file.read().strip().splitlines()[-1])
    if result.returncode != 0:
        raise SystemExit(f"dbt {' '.join(args)} failed:\n{result.stdout[-4000:]}")
    return TimedRun(seconds, peak_kb / 1024, result.stdout)


def warehouse_env(dsn: str, workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CHRONO_PG_DSN=dsn,
        CHRONO_DUCKDB_PATH=str(workdir / "bench.duckdb"),
        CHRONO_LAKE_ROOT=str(workdir / "lake"),
    )
    return env


def built_for_sync(
    workdir: Path, pages: int, home: str
) -> tuple[BenchSource, dict[str, str], TimedRun]:
    """A fresh source of `pages` pages, all marts built from nothing (`dbt run --full-refresh
    --select +marts`, timed), and the environment a `chrono-analytics sync` of the bench runs
    in: CHRONO_HOME `workdir/home`, the raw events under `workdir/events`."""
    source, _ = start_source(workdir, pages)
    env = warehouse_env(source.dsn, workdir)
    env["CHRONO_HOME"] = str(workdir / home)
    env["CHRONO_EVENTS_ROOT"] = str(workdir / "events")
    timed_dbt(env, "seed")
    build = timed_dbt(env, "run", "--full-refresh", "--select", "+marts")
    return source, env, build


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.parquet") if p.is_file())


def relation_bytes(dsn: str, table: str) -> int:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("select pg_total_relation_size(%s)", (table,))
        row = cur.fetchone()
    return int(row[0]) if row else 0


def touch_pages(dsn: str, count: int, window: int | None = None) -> int:
    """Update `count` pages as the application would, spread evenly over the `window` most
    recently created pages (where a scraper's updates land; default: the newest tenth of the
    table): a new status (completed; failed for a page already completed, so that a second
    call on the same pages changes the marts' counts again), one more retry, and updated_at =
    now() (the transaction's time, as the application stamps it)."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("select max(id) from scrape_pages")
        row = cur.fetchone()
        newest = int(row[0]) if row and row[0] else 0
        recent = max(1, window if window is not None else round(newest * 0.1))
        step = max(1, recent // max(1, count))
        cur.execute(
            "update scrape_pages set status = case status when 'completed' then 'failed' "
            "else 'completed' end, retry_count = retry_count + 1, updated_at = now() "
            "where id in (select id from scrape_pages where id > %s "
            "and id %% %s = 0 order by id desc limit %s)",
            (newest - recent, step, count),
        )
        return int(cur.rowcount)


def lake_status(lake_root: str | Path) -> dict[str, dict[str, object]]:
    """Per mart: its last run's figures (from its snapshot) and its bytes."""
    from chrono_analytics.lake.reader import Lake

    lake = Lake(lake_root)
    found: dict[str, dict[str, object]] = {}
    for mart in lake.marts():
        snapshot = lake.snapshot(mart)
        if snapshot is not None:
            found[mart] = {
                **snapshot.run,
                "bytes": snapshot.bytes,
                "rows": snapshot.rows,
                "files": len(snapshot.files),
            }
    return found
