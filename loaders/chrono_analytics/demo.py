"""``make demo``: the whole job end to end on the embedded default, idempotently."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from chrono_analytics import source_db, text_measures
from chrono_analytics.cli import run_dbt
from chrono_analytics.config import Settings, load_settings
from chrono_analytics.duckdb_setup import install_postgres_extension
from chrono_analytics.events import EVENTS_GLOB, EventWriter, generate_demo_events
from chrono_analytics.source_attach import attach_source


def run_demo(pages: int, seed: int, reseed: bool) -> int:
    settings = load_settings()
    started = time.perf_counter()
    source_db.ensure_source_ready(settings)
    shape = source_db.SyntheticShape(pages=pages, seed=seed)
    generated = reseed or source_db.seeded_shape(settings.pg_admin_dsn) != shape
    if generated:
        seconds = source_db.seed(settings.pg_admin_dsn, shape, settings.reader_role)
        print(f"generated {pages:,} synthetic pages (seed {seed}) in {seconds:.1f} s")
    else:
        print(f"source already holds the synthetic data ({pages:,} pages, seed {seed})")
    write_demo_events(settings.events_root, pages)
    run_dbt("deps", "--quiet")
    # a source generated anew is another source: its rows carry the same fixed updated_at
    # values as the last one's, so an incremental run would keep the lake built from that one
    run_dbt("build", *(["--full-refresh"] if generated else []))
    print_summary(settings)
    print(f"demo finished in {time.perf_counter() - started:.1f} s")
    return 0


def print_summary(settings: Settings) -> None:
    """Rows per relation of the warehouse, where the lake is, how to open the docs."""
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        install_postgres_extension(conn)
        attach_source(conn, settings)
        text_measures.register(conn)  # the staging view of the pages counts words with it
        relations = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database() and table_schema not like 'dbt_test%' "
            "order by table_schema, table_name"
        ).fetchall()
        print("\nrows per model:")
        for schema, name in relations:
            count = conn.execute(f'select count(*) from "{schema}"."{name}"').fetchone()
            print(f"  {schema + '.' + name:<48} {count[0] if count else 0:>12,}")
    print(f"\nParquet lake: {settings.lake_root}")
    print(f"DuckDB file with views over it: {settings.duckdb_path}")
    print("docs: .venv/bin/dbt docs generate && .venv/bin/dbt docs serve --port 8080")


DEMO_EVENT_PAGES = 5_000


DEMO_EVENT_DAYS = 7

# more than the demo ever writes: 68,200 events at 1,500 pages, 82,001 at DEMO_EVENT_PAGES
DEMO_EVENTS_MAX = 1_000_000


def write_demo_events(root: Path, pages: int) -> None:
    """Application events for the demo under ``root``, written through the loader library,
    once: the last DEMO_EVENT_DAYS days up to now, as the synthetic pages run up to now (so
    "the last 24 hours" has answers)."""
    if any(root.glob(EVENTS_GLOB)):
        print(f"events already written under {root}")
        return
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    # one flush at the end: the generator emits the events page by page and user by user, not
    # in time order, so each flush on the buffer's size would write a small file into every
    # hour of the week (2,286 files instead of 168 at 1,500 pages, and 3x the time)
    with EventWriter(root, flush_interval_s=None, max_buffer_events=DEMO_EVENTS_MAX) as writer:
        counts = generate_demo_events(
            writer,
            pages=min(pages, DEMO_EVENT_PAGES),
            users=40,
            projects=300,
            start=end - timedelta(days=DEMO_EVENT_DAYS),
            end=end,
        )
    print(f"wrote {sum(counts.values()):,} demo events under {root}")
