"""``chrono-analytics``: the one entry point for the jobs that are not dbt.

Every failure the user can fix prints one line (``error: ...``) and exits with status 2; so
does every usage error (unknown command or option, bad value, missing command), with the
closest valid spelling and the ``--help`` to read. ``CliParser`` carries that behaviour, and
the default shown in every option's help, to every command: ``commands.add_parser(...)``
builds a ``CliParser``, so a command added later (in this file or through a ``register``
function like ``events.cli``'s) needs no code of its own; a command with subcommands calls
``add_subparsers()`` without arguments.
"""

from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from importlib import metadata
from typing import Any, NoReturn

from chrono_analytics import backfill, source_db, sync
from chrono_analytics.api import cli as api_cli
from chrono_analytics.config import Settings, load_settings, project_root, verbose
from chrono_analytics.duckdb_setup import install_postgres_extension
from chrono_analytics.errors import UserFacingError
from chrono_analytics.events import cli as events_cli
from chrono_analytics.lake import cli as lake_cli
from chrono_analytics.pgserver import EmbeddedServer

PROG = "chrono-analytics"
DEMO_PAGES = 100_000


def _version() -> str:
    try:
        return metadata.version("chrono-analytics")
    except metadata.PackageNotFoundError:
        return "(not installed: run 'make setup')"


def _suggestion(wrong: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(wrong, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


class _HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: ...)`` to an option's help unless the help already says it, and
    ``(required)`` to a required option's."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.option_strings and action.required:
            return f"{text} (required)"
        if (
            not action.option_strings
            or "default" in text
            or action.default in (None, argparse.SUPPRESS)
            or isinstance(action, argparse.BooleanOptionalAction)  # adds its own
        ):
            return action.help
        if action.nargs == 0:  # a flag such as store_true
            return f"{text} (default: {'on' if action.default else 'off'})"
        return f"{text} (default: %(default)s)"


class _Commands(argparse._SubParsersAction):
    """Subcommands whose ``--help`` repeats the one-line help as the description."""

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if kwargs.get("description") is None:
            kwargs["description"] = kwargs.get("help")
        return super().add_parser(name, **kwargs)


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser whose every error is one ``error: ...`` line and exit status 2.

    Messages name the command as typed (``db statsu``), suggest the closest valid command or
    option, and point to the ``--help`` of the command concerned; argparse's internal names
    (dest) never show.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    @property
    def command(self) -> str:
        """The command words after the program name ('' for the program itself)."""
        return self.prog.partition(" ")[2]

    def _qualified(self, word: str) -> str:
        return f"{self.command} {word}".strip()

    def error(self, message: str) -> NoReturn:
        message = message.removeprefix("argument ")  # argparse's "argument --pages: ..."
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")

    def add_subparsers(self, **kwargs: Any) -> Any:
        """Subcommands: listed under 'commands'; none given is a usage error, not a crash."""
        kwargs.setdefault("title", "commands")
        kwargs.setdefault("metavar", "COMMAND")
        kwargs.setdefault("action", _Commands)
        kwargs["required"] = False  # missing_command says it better than argparse
        commands = super().add_subparsers(**kwargs)
        self.set_defaults(handler=lambda args: self.missing_command(commands.choices))
        return commands

    def missing_command(self, choices: Iterable[str]) -> NoReturn:
        after = f" after '{self.command}'" if self.command else ""
        self.error(f"missing command{after}; choose one of {', '.join(choices)}")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is None or value in action.choices:
            return
        choices = [str(choice) for choice in action.choices]
        close = _suggestion(str(value), choices)
        if isinstance(action, argparse._SubParsersAction):
            message = f"unknown command '{self._qualified(value)}'"
            hint = f"did you mean '{self._qualified(close)}'?" if close else ""
        else:
            name = "/".join(action.option_strings) or action.metavar or "argument"
            message = f"invalid value {value!r} for {name}"
            hint = f"did you mean {close!r}?" if close else ""
        raise argparse.ArgumentError(
            None, f"{message}; {hint or 'choose from ' + ', '.join(choices)}"
        )

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Like argparse's, but an argument no command takes is an error where it was typed."""
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self._reject(extras[0])
        return parsed, extras

    def _reject(self, extra: str) -> NoReturn:
        where = f" for '{self.command}'" if self.command else ""
        if not extra.startswith("-") or extra == "-":
            self.error(f"unexpected argument '{extra}'{where}")
        option = extra.partition("=")[0]
        known = [o for action in self._actions for o in action.option_strings]
        close = _suggestion(option, known)
        hint = f"; did you mean '{close}'?" if close else ""
        self.error(f"unknown option '{option}'{where}{hint}")


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


def _synthetic_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pages", type=int, default=DEMO_PAGES, metavar="N", help="scrape_pages rows to generate"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=42,
        metavar="N",
        help="random seed; the same seed, the same data",
    )


def build_parser() -> CliParser:
    parser = CliParser(
        prog=PROG,
        description="Chrono Scraper analytics: the jobs that are not dbt (source database, "
        "event loaders, demo). Configuration: the CHRONO_* environment variables (README).",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {_version()}", help="print the version"
    )
    commands = parser.add_subparsers()

    setup = commands.add_parser("setup", help="install DuckDB's postgres extension offline")
    setup.set_defaults(handler=cmd_setup)

    db = commands.add_parser("db", help="the embedded source PostgreSQL")
    db_commands = db.add_subparsers()
    db_commands.add_parser("up", help="start the embedded server").set_defaults(handler=cmd_db_up)
    db_commands.add_parser("down", help="stop the embedded server").set_defaults(
        handler=cmd_db_down
    )
    db_commands.add_parser("status", help="server state and source row counts").set_defaults(
        handler=cmd_db_status
    )
    seed = db_commands.add_parser("seed", help="(re)create the schema with synthetic data")
    _synthetic_data_options(seed)
    seed.set_defaults(handler=cmd_db_seed)

    demo = commands.add_parser("demo", help="source + synthetic data + dbt build + summary")
    _synthetic_data_options(demo)
    demo.add_argument(
        "--reseed", action="store_true", help="regenerate the data even if it is already there"
    )
    demo.set_defaults(handler=cmd_demo)

    events_cli.register(commands)
    lake_cli.register(commands)
    sync.register(commands)
    backfill.register(commands)
    api_cli.register(commands)
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
    if verbose():
        print(f"({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
