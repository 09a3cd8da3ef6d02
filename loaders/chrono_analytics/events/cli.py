"""``chrono-analytics events ingest|compact|schema``: the command-line side of the event loaders.

``register(subparsers)`` adds the ``events`` command to the main CLI. Each handler returns
its exit status: 0 when everything went through, 1 when some input was rejected (ingest),
some partition could not be compacted (compact) or a generated file is out of date
(schema --check); errors the user can fix raise ``UserFacingError`` (printed as one
``error:`` line, exit status 2, by the main CLI).
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from chrono_analytics import config
from chrono_analytics.errors import UserFacingError
from chrono_analytics.events.compaction import DEFAULT_GRACE, CompactionBusyError, compact
from chrono_analytics.events.ingest import MAX_LINE_BYTES, InputFileError, input_size, run_ingest
from chrono_analytics.events.schema import generated_files

_PROGRESS_MIN_BYTES = 16 * 1024 * 1024


def _root(args: argparse.Namespace) -> Path:
    return Path(args.root) if args.root else config.events_root()


def _show_progress(choice: bool | None, total: int | None) -> bool:
    if choice is not None:
        return choice
    return sys.stderr.isatty() and (total is None or total >= _PROGRESS_MIN_BYTES)


def cmd_ingest(args: argparse.Namespace) -> int:
    root = _root(args)
    inputs: list[str] = args.inputs
    total = input_size(inputs)
    bar: Any = None
    if _show_progress(args.progress, total):
        from tqdm import tqdm

        bar = tqdm(
            total=total, unit="B", unit_scale=True, desc="ingest", file=sys.stderr, mininterval=0.5
        )
    try:
        report = run_ingest(
            inputs,
            root,
            dead_letter_path=Path(args.dead_letter) if args.dead_letter else None,
            source_component=args.source_component,
            environment=args.environment,
            buffer_events=args.buffer_events,
            on_progress=bar.update if bar is not None else None,
        )
    except InputFileError as exc:
        if exc.missing:
            raise UserFacingError(f"input file not found: {exc.path}; check the path") from None
        raise UserFacingError(f"cannot read {exc}") from None
    except OSError as exc:
        raise UserFacingError(
            f"writing events under {root} failed: {exc}. Events already written stay; "
            "fix the cause and re-run the same input (identical lines get identical ids, "
            "readers keep one copy)"
        ) from None
    finally:
        if bar is not None:
            bar.close()
    print(report.summary())
    return 0 if report.rejected == 0 else 1


def cmd_compact(args: argparse.Namespace) -> int:
    root = _root(args)
    if not root.is_dir():
        raise UserFacingError(f"events root {root} does not exist; set CHRONO_EVENTS_ROOT")
    try:
        report = compact(root, grace=timedelta(minutes=args.grace_minutes))
    except CompactionBusyError as exc:
        raise UserFacingError(f"{exc}; wait for it to finish") from None
    print(
        f"events compact: partitions {report.partitions_seen:,} "
        f"({report.partitions_open:,} open, {report.partitions_compacted:,} compacted), "
        f"files {report.files_before:,} -> {report.files_after:,}, "
        f"bytes {report.bytes_before:,} -> {report.bytes_after:,}, "
        f"rows {report.rows_read:,} -> {report.rows_written:,} "
        f"({report.duplicates_removed:,} duplicates removed), "
        f"abandoned in-flight files removed {report.abandoned_files_removed:,}"
    )
    for folder, problem in report.failures:
        print(f"error: {folder} left as it is: {problem}", file=sys.stderr)
    return 1 if report.failures else 0


def cmd_schema(args: argparse.Namespace) -> int:
    project = config.project_root()
    if not (project / "dbt_project.yml").is_file():
        raise UserFacingError(
            f"no dbt_project.yml in {project} or above; run this inside the dbt project"
        )
    stale = [
        path
        for path, text in generated_files().items()
        if not (project / path).is_file() or (project / path).read_text() != text
    ]
    for path in stale:
        if args.check:
            print(f"{path} differs from the events schema", file=sys.stderr)
        else:
            (project / path).write_text(generated_files()[path])
            print(f"wrote {path}")
    if args.check and stale:
        print("run: chrono-analytics events schema --write", file=sys.stderr)
        return 1
    if not stale:
        print("the files generated from the events schema are up to date")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``events ingest`` and ``events compact`` to a parser's subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--root",
        default=None,
        metavar="DIR",
        help="events root folder (default: $CHRONO_EVENTS_ROOT, else "
        "<$CHRONO_LAKE_ROOT or lake>/raw/events; relative to the dbt project folder)",
    )
    events = subparsers.add_parser(
        "events", help="application events: ingest JSON Lines, compact Parquet files"
    )
    commands = events.add_subparsers(dest="events_command", required=True)

    ingest = commands.add_parser(
        "ingest",
        parents=[common],
        help="validate JSON Lines events and write them as Parquet",
        description="Each non-blank line is one JSON object with the events contract's "
        "columns. Valid lines are written; invalid ones go to a dead-letter file with the "
        f"reason. Lines over {MAX_LINE_BYTES:,} bytes are rejected. Exit status 1 when a "
        "line was rejected.",
    )
    ingest.add_argument(
        "inputs", nargs="*", metavar="FILE", help="JSONL files; '-' or nothing reads stdin"
    )
    ingest.add_argument(
        "--dead-letter",
        default=None,
        metavar="FILE",
        help="dead-letter file (default: <root>/_dead_letter/ingest-<utc>-<pid>.jsonl)",
    )
    ingest.add_argument(
        "--source-component",
        default=None,
        metavar="NAME",
        help="source_component for lines without one (default: none, so such a line is rejected)",
    )
    ingest.add_argument(
        "--environment",
        default=None,
        metavar="NAME",
        help="environment for lines without one (default: none, left empty)",
    )
    ingest.add_argument(
        "--buffer-events", type=int, default=50_000, metavar="N", help="events per flush"
    )
    ingest.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: on a terminal, for inputs of 16 MiB or more)",
    )
    ingest.set_defaults(handler=cmd_ingest)

    compact_cmd = commands.add_parser(
        "compact",
        parents=[common],
        help="merge the small files of closed hours into one file per partition",
        description="An hour is closed when it ended more than --grace-minutes ago. Each "
        "closed partition becomes one compacted.parquet, deduplicated by event_id. Files "
        "that a live writer or ingest is still writing are never touched, whatever the "
        "grace; those of writers that are gone are removed.",
    )
    compact_cmd.add_argument(
        "--grace-minutes",
        type=float,
        default=DEFAULT_GRACE.total_seconds() / 60,
        metavar="MINUTES",
        help="minutes after an hour's end before it is compacted",
    )
    compact_cmd.set_defaults(handler=cmd_compact)

    schema = commands.add_parser(
        "schema",
        help="write (or check) the dbt files generated from the events schema",
        description="The events schema is defined once, in "
        "loaders/chrono_analytics/events/schema.py. This writes the dbt files generated "
        "from it (macros/events_columns.sql, models/staging/events/_events__docs.md).",
    )
    mode = schema.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the files that differ")
    mode.add_argument(
        "--check", action="store_true", help="exit 1 when a file differs (write nothing)"
    )
    schema.set_defaults(handler=cmd_schema)
