"""``chrono-analytics``: the one entry point for the jobs that are not dbt.

Every failure the user can fix prints one line (``error: ...``) and exits with status 2.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence

from chrono_analytics import source_db
from chrono_analytics.config import Settings, load_settings, project_root
from chrono_analytics.duckdb_setup import install_postgres_extension
from chrono_analytics.errors import UserFacingError
from chrono_analytics.events import cli as events_cli
from chrono_analytics.pgserver import EmbeddedServer

DEMO_PAGES = 100_000


def _server(settings: Settings) -> EmbeddedServer:
    if not settings.uses_embedded_server:
        raise UserFacingError(
            "CHRONO_PG_DSN is set, so the embedded server is not used: unset it to manage "
            "the embedded server"
        )
    return EmbeddedServer(settings.pgdata, settings.pg_port)


def cmd_setup(args: argparse.Namespace) -> int:
    install_postgres_extension()
    print("DuckDB postgres extension installed from the wheel")
    return 0


def cmd_db_up(args: argparse.Namespace) -> int:
    settings = load_settings()
    server = _server(settings)
    source_db.ensure_source_ready(settings)
    status = server.status()
    print(
        f"embedded PostgreSQL running (pid {status.pid}); the warehouse reads as "
        f"{settings.pg_dsn!r}, data is generated as {settings.pg_admin_dsn!r}"
    )
    return 0


def cmd_db_down(args: argparse.Namespace) -> int:
    stopped = _server(load_settings()).down()
    print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
    return 0


def cmd_db_status(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.uses_embedded_server:
        status = EmbeddedServer(settings.pgdata, settings.pg_port).status()
        state = f"running (pid {status.pid}, port {status.port})" if status.running else "stopped"
        print(f"embedded PostgreSQL in {settings.pgdata}: {state}")
        if not status.running:
            return 1
    counts = source_db.row_counts(settings.pg_dsn)
    print("source rows: " + ", ".join(f"{table}={n:,}" for table, n in counts.items()))
    return 0


def cmd_db_seed(args: argparse.Namespace) -> int:
    shape = source_db.SyntheticShape(pages=args.pages, seed=args.seed)
    settings = load_settings()
    source_db.ensure_source_ready(settings)
    seconds = source_db.seed(settings.pg_admin_dsn, shape, settings.reader_role)
    print(f"generated {shape.pages:,} synthetic pages (seed {shape.seed}) in {seconds:.1f} s")
    return 0


def run_dbt(*dbt_args: str) -> None:
    """Run the dbt CLI of this venv from the project root; raise if it fails."""
    dbt = os.path.join(os.path.dirname(sys.executable), "dbt")
    command = [dbt, *dbt_args]
    print("$ " + " ".join(["dbt", *dbt_args]), flush=True)
    result = subprocess.run(command, cwd=project_root(), check=False)
    if result.returncode != 0:
        raise UserFacingError(f"'dbt {' '.join(dbt_args)}' failed (exit {result.returncode})")


def cmd_demo(args: argparse.Namespace) -> int:
    from chrono_analytics.demo import run_demo

    return run_demo(pages=args.pages, seed=args.seed, reseed=args.reseed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chrono-analytics",
        description="Chrono Scraper analytics: source database, event loaders, demo.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    setup = commands.add_parser("setup", help="install DuckDB's postgres extension offline")
    setup.set_defaults(handler=cmd_setup)

    db = commands.add_parser("db", help="the embedded source PostgreSQL")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("up", help="start the embedded server").set_defaults(handler=cmd_db_up)
    db_commands.add_parser("down", help="stop it").set_defaults(handler=cmd_db_down)
    db_commands.add_parser("status", help="server state and source row counts").set_defaults(
        handler=cmd_db_status
    )
    seed = db_commands.add_parser("seed", help="(re)create the schema with synthetic data")
    seed.add_argument("--pages", type=int, default=DEMO_PAGES, help="scrape_pages rows")
    seed.add_argument("--seed", type=int, default=42, help="random seed (same seed, same data)")
    seed.set_defaults(handler=cmd_db_seed)

    demo = commands.add_parser("demo", help="source + synthetic data + dbt build + summary")
    demo.add_argument("--pages", type=int, default=DEMO_PAGES)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument(
        "--reseed", action="store_true", help="regenerate the data even if it is already there"
    )
    demo.set_defaults(handler=cmd_demo)

    events_cli.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    try:
        code = int(args.handler(args))
    except UserFacingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if os.environ.get("CHRONO_VERBOSE"):
        print(f"({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
