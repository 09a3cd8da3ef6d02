"""``chrono-analytics lake status|files|query|vacuum``: the lake from the command line.

Every command reads snapshots only (no dbt, no DuckDB file), so it works while dbt or the sync
loop writes; ``vacuum`` takes each mart's write lock and skips a mart being written.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from typing import Any

from chrono_analytics.errors import UserFacingError
from chrono_analytics.lake import lock
from chrono_analytics.lake.reader import Lake
from chrono_analytics.lake.settings import DEFAULT_HISTORY_SNAPSHOTS, DEFAULT_RETENTION_SECONDS
from chrono_analytics.lake.snapshot import LakeError
from chrono_analytics.lake.store import open_store
from chrono_analytics.lake.writer import superseded_bytes, vacuum


def retention_seconds() -> float:
    """CHRONO_LAKE_RETENTION_SECONDS, else the default (how long superseded files stay)."""
    raw = os.environ.get("CHRONO_LAKE_RETENTION_SECONDS") or ""
    if not raw:
        return DEFAULT_RETENTION_SECONDS
    try:
        value = float(raw)
    except ValueError:
        raise UserFacingError(
            f"CHRONO_LAKE_RETENTION_SECONDS={raw!r} is not a number of seconds"
        ) from None
    if not value >= 0:
        raise UserFacingError(f"CHRONO_LAKE_RETENTION_SECONDS={raw!r} must be >= 0")
    return value


def _lake(args: argparse.Namespace) -> Lake:
    lake = Lake(args.root) if args.root else Lake()
    if not lake.marts():
        raise UserFacingError(
            f"no mart has been built under {lake.root}; run 'dbt build' (or 'make demo') first"
        )
    return lake


def status(lake: Lake, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per mart: its snapshot, size, watermark and how far the watermark is behind now."""
    clock = now or datetime.now(UTC)
    rows = []
    for mart in lake.marts():
        snapshot = lake.snapshot(mart)
        if snapshot is None:
            continue
        lag = None
        if snapshot.watermark:
            try:
                lag = (clock - datetime.fromisoformat(snapshot.watermark)).total_seconds()
            except ValueError:
                lag = None
        rows.append(
            {
                "mart": mart,
                "version": snapshot.version,
                "committed_at": snapshot.committed_at.isoformat(),
                "rows": snapshot.rows,
                "files": len(snapshot.files),
                "bytes": snapshot.bytes,
                "superseded_bytes": superseded_bytes(open_store(lake.location(mart))),
                "watermark": snapshot.watermark,
                "lag_seconds": lag,
                "last_run": snapshot.run,
            }
        )
    return rows


def cmd_status(args: argparse.Namespace) -> int:
    rows = status(_lake(args))
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
        return 0
    print(f"{'mart':<28}{'snapshot':>9}{'rows':>12}{'files':>7}{'MB':>9}  watermark (lag)")
    for row in rows:
        lag = "" if row["lag_seconds"] is None else f" ({row['lag_seconds']:.0f} s)"
        print(
            f"{row['mart']:<28}{row['version']:>9}{row['rows']:>12,}{row['files']:>7}"
            f"{row['bytes'] / 1e6:>9.1f}  {row['watermark'] or '-'}{lag}"
        )
    return 0


def cmd_files(args: argparse.Namespace) -> int:
    lake = _lake(args)
    try:
        files = lake.files(args.mart)
    except LookupError as exc:
        raise UserFacingError(str(exc).strip("'\"")) from None
    for path in files:
        print(path)
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    lake = _lake(args)
    conn = lake.connect()
    try:
        result = conn.execute(args.sql)
    except Exception as exc:  # duckdb's errors have no common base worth naming here
        raise UserFacingError(f"the query failed: {str(exc).splitlines()[0]}") from None
    names = [d[0] for d in result.description or []]
    print("\t".join(names))
    for row in result.fetchall():
        print("\t".join("" if v is None else str(v) for v in row))
    return 0


def cmd_vacuum(args: argparse.Namespace) -> int:
    lake = _lake(args)
    retention = retention_seconds() if args.retention_seconds is None else args.retention_seconds
    busy = 0
    for mart in lake.marts():
        store = open_store(lake.location(mart))
        try:
            lock.acquire(
                store, f"vacuum-{os.getpid()}-{time.time()}", "chrono-analytics lake vacuum", 0
            )
        except LakeError:
            print(f"{mart}: skipped, being written by {lock.holder(store)}")
            busy += 1
            continue
        try:
            report = vacuum(store, retention, DEFAULT_HISTORY_SNAPSHOTS)
        finally:
            lock.release(store)
        print(
            f"{mart}: deleted {report.files_deleted} files ({report.bytes_deleted / 1e6:.1f} MB) "
            f"and {report.snapshots_deleted} old snapshots; kept "
            f"{report.files_kept_for_readers} superseded files "
            f"({report.bytes_kept_for_readers / 1e6:.1f} MB) younger than {retention:.0f} s"
        )
    return 1 if busy else 0


def register(commands: Any) -> None:
    lake = commands.add_parser(
        "lake",
        help="the Parquet lake: status, files, queries, vacuum",
        description="Read the lake's committed snapshots (no lock, no dbt), or vacuum it.",
    )
    lake.add_argument(
        "--root", metavar="DIR", help="lake root (default: CHRONO_LAKE_ROOT or ./lake)"
    )
    sub = lake.add_subparsers(dest="lake_command")
    show = sub.add_parser("status", help="each mart's snapshot, size, watermark and lag")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=cmd_status)
    files = sub.add_parser("files", help="the files of a mart's current snapshot, one per line")
    files.add_argument("mart", help="mart name, e.g. cdx_records")
    files.set_defaults(handler=cmd_files)
    query = sub.add_parser("query", help="run one SQL query over the marts (a view per mart)")
    query.add_argument("sql", help="the query, e.g. 'select count(*) from cdx_records'")
    query.set_defaults(handler=cmd_query)
    vac = sub.add_parser(
        "vacuum", help="delete superseded files no reader can still need, and old snapshots"
    )
    vac.add_argument(
        "--retention-seconds",
        type=float,
        metavar="S",
        help="keep files superseded less than S seconds ago (default: "
        "CHRONO_LAKE_RETENTION_SECONDS or 600)",
    )
    vac.set_defaults(handler=cmd_vacuum)
