"""``chrono-analytics backfill --from DATE --to DATE``: rebuild a date range of the marts from
the source, after a repair of the source whose rows kept their ``updated_at`` (which an
incremental run would not read again).

It runs ``dbt run --select <selection>`` in this process with the var ``backfill: {from, to}``:
the recompute macros of the marts (macros/incremental_inputs.sql) then also rebuild every row of
the range (the pages created in it and those the mart holds for it, the days of it), besides
the changes they find anyway; nothing else is rebuilt, and rows that come out identical are not
written. A progress bar counts the models.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from datetime import date
from typing import Any

from chrono_analytics.config import project_root
from chrono_analytics.errors import UserFacingError


def run_backfill(start: date, end: date, select: list[str], progress: bool | None = None) -> int:
    if start > end:
        raise UserFacingError(f"--from {start} is after --to {end}")
    from dbt.cli.main import dbtRunner
    from tqdm import tqdm

    root = str(project_root())
    common = ["--project-dir", root, "--profiles-dir", root, "--quiet"]
    with contextlib.redirect_stdout(io.StringIO()):  # ls prints what it lists
        listed = dbtRunner().invoke(
            ["ls", "--select", *select, "--resource-type", "model", "--output", "name", *common]
        )
    if not listed.success:
        raise UserFacingError(f"the selection {' '.join(select)} is not valid: {listed.exception}")
    models = [str(name) for name in listed.result or []]  # type: ignore[union-attr]
    if not models:
        raise UserFacingError(f"the selection {' '.join(select)} names no model")
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=len(models), desc="backfill", unit="model", disable=not show, file=sys.stderr)

    def on_event(event: Any) -> None:
        if event.info.name == "NodeFinished":
            bar.update(1)

    variables = {"backfill": {"from": start.isoformat(), "to": end.isoformat()}}
    try:
        result = dbtRunner(callbacks=[on_event]).invoke(
            ["run", "--select", *select, "--vars", json.dumps(variables), *common]
        )
    finally:
        bar.close()
    if not result.success:
        detail = " ".join(str(result.exception or "a model failed").split())[:400]
        raise UserFacingError(f"the backfill failed: {detail} (see logs/dbt.log)")
    print(f"backfilled {len(models)} models from {start} to {end}")
    return 0


def cmd_backfill(args: Any) -> int:
    return run_backfill(args.date_from, args.date_to, list(args.select), args.progress)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def register(commands: Any) -> None:
    backfill = commands.add_parser(
        "backfill",
        help="rebuild a date range of the marts from the source (after a source repair)",
        description="Rebuild the rows of the marts whose day falls in the range (processing "
        "day of the pages, analytics day, event day), and nothing else.",
    )
    backfill.add_argument(
        "--from",
        dest="date_from",
        type=_date,
        required=True,
        metavar="YYYY-MM-DD",
        help="first day of the range",
    )
    backfill.add_argument(
        "--to",
        dest="date_to",
        type=_date,
        required=True,
        metavar="YYYY-MM-DD",
        help="last day of the range",
    )
    backfill.add_argument(
        "--select",
        nargs="+",
        default=["marts"],
        metavar="SELECTOR",
        help="the dbt selection to rebuild",
    )
    backfill.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: when on a terminal)",
    )
    backfill.set_defaults(handler=cmd_backfill)
