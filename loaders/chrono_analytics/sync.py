"""``chrono-analytics sync``: keeps the marts current, in a loop or once.

Each cycle:

1. checks that the source answers (one connection attempt); when it does not, the cycle logs
   one line and waits, longer each time (backoff up to ``max_backoff``), and the lake is not
   touched;
2. runs the incremental models (``dbt run --select marts``) in this process, through one
   ``dbtRunner`` that keeps the parsed project between cycles (a cycle pays no dbt start-up
   or parsing), with a DuckDB file of its own (``<CHRONO_HOME>/sync.duckdb``): dbt closes it
   after each run, and analysts' own dbt commands use the project's file, so neither ever
   waits for the other's DuckDB file; on the lake, runs of the same mart take turns through
   its write lock;
3. runs the gating tests (``dbt test --select tag:sync_gate``: keys unique and not NULL,
   values in their sets: what must hold whatever the source does meanwhile; tests that
   compare a mart with the live source are not gates, the source moves on while they run).
   When one fails, every mart the cycle committed is reverted to the snapshot it had before
   the cycle (lake.writer.revert): readers keep the last good state, and the next cycle
   reads the same changes again;
4. every ``compact_every`` cycles, compacts the closed hours of the raw events;
5. writes one JSON line to stdout, ``<lake root>/_chrono_sync/status.json``
   (``chrono-analytics sync status`` reads it with the snapshots) and an application event
   (component ``analytics_sync``) through the project's event writer, so that
   system_performance_hourly shows the warehouse's own health.

One instance per lake (a flock on ``<lake root>/_chrono_sync/sync.lock``; a second instance
names the holder and exits with status 2). SIGTERM or Ctrl-C lets the current cycle finish and
exits 0; a second one abandons it at once (the lake stays consistent: a commit is atomic).
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg2

from chrono_analytics.config import Settings, project_root
from chrono_analytics.errors import UserFacingError
from chrono_analytics.lake import lock as lake_lock
from chrono_analytics.lake.reader import Lake
from chrono_analytics.lake.store import open_store
from chrono_analytics.lake.writer import revert
from chrono_analytics.source_attach import SourceDsn

SYNC_DIR = "_chrono_sync"
GATE = "tag:sync_gate"


@dataclass
class SyncConfig:
    interval: float = 30.0
    once: bool = False
    select: tuple[str, ...] = ("marts",)
    gate: str = GATE
    compact_every: int = 10
    max_backoff: float = 300.0
    events: bool = True
    # Most cycles look back only this far behind the watermark; every full_lookback_every-th
    # cycle (and the first) uses the project's lookback_hours. See SyncLoop.lookback_vars.
    lookback_minutes: float = 5.0
    full_lookback_every: int = 20


@dataclass
class CycleResult:
    number: int
    started_at: str
    seconds: float = 0.0
    ok: bool = False
    error: str | None = None
    marts: dict[str, dict[str, Any]] = field(default_factory=dict)
    reverted: list[str] = field(default_factory=list)

    @property
    def changed_rows(self) -> int:
        return sum(
            int(m.get("changed_rows") or 0) + int(m.get("deleted_rows") or 0)
            for m in self.marts.values()
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "cycle": self.number,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 3),
            "ok": self.ok,
            "error": self.error,
            "changed_rows": self.changed_rows,
            "marts": self.marts,
            "reverted": self.reverted,
        }


def release_duckdb_file() -> None:
    """Close the DuckDB database dbt-duckdb keeps open between invocations in this process
    (its connection manager holds one environment per process; the next invocation opens a
    new one)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    environment = DuckDBConnectionManager._ENV
    if environment is not None:
        environment.close()
        DuckDBConnectionManager._ENV = None


def one_line(message: str, limit: int = 400) -> str:
    """A dbt error as one line: dbt's messages start with a header line ('Runtime Error')."""
    return " ".join(message.split())[:limit]


def sync_dir(settings: Settings) -> Path:
    return settings.lake_root / SYNC_DIR


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class InstanceLock:
    """One sync per lake: a flock the kernel releases when the process ends."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "sync.lock"
        self.fd: int | None = None

    def holder(self) -> str:
        try:
            info = json.loads(self.path.read_text())
            return f"pid {info['pid']} on {info['host']}, since {info['since']}"
        except (OSError, ValueError, KeyError):
            return "another process"

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise UserFacingError(
                    f"another sync keeps {self.path.parent.parent} current ({self.holder()}); "
                    "stop it first, or use 'chrono-analytics sync status'"
                ) from None
            raise
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self.fd = fd

    def is_held_elsewhere(self) -> bool:
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        except OSError:
            return True
        finally:
            os.close(fd)

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


class SyncLoop:
    def __init__(
        self,
        settings: Settings,
        config: SyncConfig,
        out: Callable[[str], None] = lambda line: print(line, flush=True),
    ) -> None:
        self.settings = settings
        self.config = config
        self.out = out
        self.folder = sync_dir(settings)
        self.instance = InstanceLock(self.folder)
        self.stop_requested = False
        self.cycles = 0
        self._runner: Any = None
        self._writer: Any = None
        self._status: dict[str, Any] = {}
        self.lake = Lake(settings.lake_root)

    # -- dbt ---------------------------------------------------------------------------------

    def _dbt_args(self) -> list[str]:
        root = str(project_root())
        home = self.settings.home
        return [
            "--project-dir",
            root,
            "--profiles-dir",
            root,
            "--target-path",
            str(home / "sync-target"),
            "--log-path",
            str(home / "sync-logs"),
            "--quiet",
            "--no-write-json",
        ]

    def _runner_for_cycles(self) -> Any:
        if self._runner is None:
            from dbt.cli.main import dbtRunner

            os.environ["CHRONO_DUCKDB_PATH"] = str(self.settings.home / "sync.duckdb")
            self.settings.home.mkdir(parents=True, exist_ok=True)
            root = str(project_root())
            deps = dbtRunner().invoke(
                ["deps", "--project-dir", root, "--profiles-dir", root, "--quiet"]
            )
            if not deps.success:
                raise UserFacingError(f"dbt deps failed: {deps.exception}")
            parsed = dbtRunner().invoke(["parse", *self._dbt_args()])
            if not parsed.success:
                raise UserFacingError(f"the dbt project does not parse: {parsed.exception}")
            self._runner = dbtRunner(manifest=parsed.result)  # type: ignore[arg-type]
        return self._runner

    def _invoke(self, *args: str) -> tuple[bool, list[str]]:
        """Run one dbt command; (success, the failed nodes' messages). The DuckDB file is
        closed afterwards: dbt-duckdb keeps it open in the process otherwise, which would
        lock out every other process until the sync stops."""
        try:
            result = self._runner_for_cycles().invoke([*args, *self._dbt_args()])
        finally:
            release_duckdb_file()
        failures = []
        for node in getattr(result.result, "results", None) or []:
            status = str(getattr(node, "status", ""))
            if status in ("error", "fail", "runtime error"):
                failures.append(f"{node.node.name}: {one_line(node.message or status)}")
        if not result.success and not failures:
            failures.append(one_line(str(result.exception or "dbt failed")))
        return result.success, failures

    # -- one cycle ---------------------------------------------------------------------------

    def source_problem(self) -> str | None:
        """None when the source answers, else one line saying why not (no password)."""
        source = SourceDsn.parse(self.settings.pg_dsn)
        try:
            psycopg2.connect(self.settings.pg_dsn, connect_timeout=5).close()
        except psycopg2.OperationalError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
            reason = source.redact(reason.rsplit(" failed: ", 1)[-1])
            return f"the source PostgreSQL at {source.server} does not answer ({reason})"
        return None

    def lookback_vars(self) -> list[str]:
        """The lookback of this cycle, as dbt arguments. The watermark is already held back to
        the source's oldest open transaction, so rows stamped with their transaction's time
        are never missed; the lookback is for timestamps written by clocks that run behind
        the database's. Every cycle re-reads the pages changed within its lookback (at 50
        changes a second, an hour holds 180,000 pages: a cycle would re-read them all), so
        most cycles look back `lookback_minutes` and every `full_lookback_every`-th cycle,
        the first included, the project's lookback_hours (1 h): a page stamped up to an hour
        late is still picked up, at most that many cycles later."""
        every = self.config.full_lookback_every
        if every <= 0 or (self.cycles - 1) % every == 0:
            return []
        return ["--vars", json.dumps({"lookback_hours": self.config.lookback_minutes / 60})]

    def versions(self) -> dict[str, int]:
        found = {}
        for mart in self.lake.marts():
            snapshot = self.lake.snapshot(mart)
            if snapshot is not None:
                found[mart] = snapshot.version
        return found

    def cycle(self) -> CycleResult:
        self.cycles += 1
        result = CycleResult(self.cycles, _now())
        started = time.perf_counter()
        problem = self.source_problem()
        if problem is not None:
            result.error = problem
            result.seconds = time.perf_counter() - started
            return result
        before = self.versions()
        ok, failures = self._invoke("run", "--select", *self.config.select, *self.lookback_vars())
        after = self.versions()
        for mart, version in after.items():
            if version != before.get(mart):
                snapshot = self.lake.snapshot(mart)
                run = snapshot.run if snapshot else {}
                result.marts[mart] = {
                    "version": version,
                    "mode": run.get("mode"),
                    "changed_rows": run.get("changed_rows"),
                    "deleted_rows": run.get("deleted_rows"),
                    "files_written": run.get("files_written"),
                    "seconds": run.get("total_seconds"),
                    "watermark": snapshot.watermark if snapshot else None,
                }
        if not ok:
            # a source lost during the run fails it with whatever dbt met first (a terminated
            # connection, a refused attach): say what the operator needs, the source is down
            problem = self.source_problem()
            detail = "; ".join(failures[:3])
            result.error = (
                f"{problem}; the cycle stopped (dbt: {detail[:300]})"
                if problem is not None
                else f"dbt run failed: {detail}"
            )
        elif self.config.gate:
            gate_ok, gate_failures = self._invoke("test", "--select", self.config.gate)
            if not gate_ok:
                result.error = "gating tests failed: " + "; ".join(gate_failures[:3])
                result.reverted = self._revert(before, after, result.error)
        if self.config.compact_every and self.cycles % self.config.compact_every == 0:
            self._compact()
        result.ok = result.error is None
        result.seconds = time.perf_counter() - started
        return result

    def _revert(self, before: dict[str, int], after: dict[str, int], reason: str) -> list[str]:
        reverted = []
        for mart, version in after.items():
            if mart in before and version != before[mart]:
                revert(open_store(self.lake.location(mart)), before[mart], reason)
                reverted.append(mart)
        return reverted

    def _compact(self) -> None:
        from chrono_analytics.events.compaction import compact

        try:
            compact(self.settings.events_root)
        except Exception as exc:  # a failed compaction is retried next time; say so
            self.out(json.dumps({"ts": _now(), "warning": f"event compaction failed: {exc}"}))

    # -- reporting ---------------------------------------------------------------------------

    def record(self, result: CycleResult) -> None:
        line = {"ts": _now(), **result.to_json()}
        self.out(json.dumps(line, default=str))
        status = self._status or {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": _now(),
            "marts": {},
        }
        status["cycles"] = self.cycles
        status["last_cycle"] = line
        marts: dict[str, Any] = status.setdefault("marts", {})
        for mart in self.lake.marts():
            entry = marts.setdefault(mart, {})
            if result.ok:
                entry["last_success_at"] = line["ts"]
                entry["error"] = None
                if mart in result.marts:
                    entry["changed_rows"] = result.marts[mart]["changed_rows"]
            else:
                entry["error"] = result.error
        if result.ok:
            status["last_success"] = line
        self._status = status
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".status-{os.getpid()}.json"
        tmp.write_text(json.dumps(status, indent=1, default=str))
        os.replace(tmp, self.folder / "status.json")
        if self.config.events:
            self._event(result)

    def _event(self, result: CycleResult) -> None:
        from chrono_analytics.events import Event, EventWriter

        if self._writer is None:
            self._writer = EventWriter(
                self.settings.events_root,
                source_component="analytics_sync",
                source_module="chrono_analytics.sync",
                flush_interval_s=None,
            )
        data = {
            "cycle": result.number,
            "marts": {m: v.get("changed_rows") for m, v in result.marts.items()},
        }
        if result.ok:
            event = Event.performance(
                round(result.seconds * 1000, 3),
                items_processed=result.changed_rows,
                event_subtype="sync_cycle",
                event_status="ok",
                event_data=data,
            )
        else:
            event = Event.error(
                error_code="sync_cycle_failed",
                error_category="analytics_sync",
                duration_ms=round(result.seconds * 1000, 3),
                event_subtype="sync_cycle",
                event_status="failed",
                event_message=(result.error or "")[:2000],
                event_data=data,
            )
        self._writer.capture(event)
        self._writer.flush()

    # -- the loop ----------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_requested:
            raise KeyboardInterrupt  # a second signal: abandon the cycle now
        self.stop_requested = True
        self.out(
            json.dumps(
                {
                    "ts": _now(),
                    "signal": signal.Signals(signum).name,
                    "note": "finishing the current cycle, then stopping",
                }
            )
        )

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stop_requested and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def run(self) -> int:
        self.instance.acquire()
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        backoff = 0.0
        try:
            while True:
                started = time.monotonic()
                result = self.cycle()
                self.record(result)
                if self.config.once:
                    return 0 if result.ok else 1
                if self.stop_requested:
                    return 0
                if result.ok or result.marts:
                    backoff = 0.0
                    self._sleep(max(0.0, self.config.interval - (time.monotonic() - started)))
                else:
                    backoff = min(self.config.max_backoff, max(self.config.interval, 2 * backoff))
                    self._sleep(backoff)
                if self.stop_requested:
                    return 0
        except KeyboardInterrupt:
            self.out(
                json.dumps(
                    {
                        "ts": _now(),
                        "note": "cycle abandoned; the lake keeps its last committed snapshots",
                    }
                )
            )
            return 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            lake_lock.release_all()
            if self._writer is not None:
                self._writer.close()
            self.instance.release()


def status(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """What `chrono-analytics sync status` shows: whether a sync runs, its last cycles, and per
    mart the last successful cycle, snapshot, watermark, lag, rows changed and error. Reads
    the status file and the lake's snapshots only (never dbt's DuckDB file)."""
    clock = now or datetime.now(UTC)
    folder = sync_dir(settings)
    saved: dict[str, Any] = {}
    try:
        saved = json.loads((folder / "status.json").read_text())
    except (OSError, ValueError):
        saved = {}
    lake = Lake(settings.lake_root)
    marts = {}
    for mart in lake.marts():
        snapshot = lake.snapshot(mart)
        if snapshot is None:
            continue
        entry = dict((saved.get("marts") or {}).get(mart) or {})
        lag = None
        if snapshot.watermark:
            try:
                lag = (clock - datetime.fromisoformat(snapshot.watermark)).total_seconds()
            except ValueError:
                lag = None
        entry.update(
            version=snapshot.version,
            committed_at=snapshot.committed_at.isoformat(),
            watermark=snapshot.watermark,
            lag_seconds=lag,
            last_run_changed_rows=snapshot.run.get("changed_rows"),
        )
        marts[mart] = entry
    return {
        "running": InstanceLock(folder).is_held_elsewhere(),
        "cycles": saved.get("cycles"),
        "last_cycle": saved.get("last_cycle"),
        "last_success": (saved.get("last_success") or {}).get("ts"),
        "marts": marts,
    }


# -- the command line ----------------------------------------------------------------------------


def cmd_sync(args: Any) -> int:
    from chrono_analytics.config import load_settings

    config = SyncConfig(
        interval=args.interval,
        once=args.once,
        select=tuple(args.select),
        gate="" if args.no_gate else GATE,
        compact_every=args.compact_every,
        events=not args.no_events,
        lookback_minutes=args.lookback_minutes,
        full_lookback_every=args.full_lookback_every,
    )
    return SyncLoop(load_settings(), config).run()


def cmd_sync_status(args: Any) -> int:
    from chrono_analytics.config import load_settings

    found = status(load_settings())
    if args.json:
        print(json.dumps(found, indent=1, default=str))
        return 0
    last = found["last_cycle"] or {}
    state = "running" if found["running"] else "not running"
    print(
        f"sync: {state}; cycles {found['cycles'] or 0}; last cycle {last.get('ts', '-')} "
        f"({'ok' if last.get('ok') else last.get('error') or '-'}); last success "
        f"{found['last_success'] or '-'}"
    )
    print(f"{'mart':<28}{'snapshot':>9}{'lag s':>9}{'changed':>9}  last success / error")
    for mart, entry in found["marts"].items():
        lag = entry.get("lag_seconds")
        print(
            f"{mart:<28}{entry['version']:>9}{'' if lag is None else f'{lag:.0f}':>9}"
            f"{entry.get('last_run_changed_rows') or 0:>9}  "
            f"{entry.get('error') or entry.get('last_success_at') or '-'}"
        )
    return 0


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def register(commands: Any) -> None:
    sync = commands.add_parser(
        "sync",
        help="keep the marts current: incremental dbt runs in a loop (or once)",
        description="Run the incremental marts and the reporting models every --interval "
        "seconds in this process (dbt parsed once), gate each cycle on the sync_gate tests, "
        "compact the closed event hours now and then. Stop with SIGTERM or Ctrl-C.",
    )
    sync.add_argument(
        "--interval",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds from the start of a cycle to the start of the next",
    )
    sync.add_argument("--once", action="store_true", help="run one cycle and exit (cron, systemd)")
    sync.add_argument(
        "--select",
        nargs="+",
        default=["marts"],
        metavar="SELECTOR",
        help="the dbt selection each cycle runs",
    )
    sync.add_argument(
        "--compact-every",
        type=int,
        default=10,
        metavar="N",
        help="compact the closed hours of the raw events every N cycles (0: never)",
    )
    sync.add_argument(
        "--lookback-minutes",
        type=_non_negative,
        default=5.0,
        metavar="M",
        help="how far behind the watermark most cycles re-read source changes",
    )
    sync.add_argument(
        "--full-lookback-every",
        type=int,
        default=20,
        metavar="N",
        help="every N cycles (and the first) re-read the project's whole lookback_hours "
        "(0: every cycle)",
    )
    sync.add_argument(
        "--no-gate",
        action="store_true",
        help="do not run the gating tests (tag:sync_gate) after each cycle",
    )
    sync.add_argument(
        "--no-events", action="store_true", help="do not write a sync event per cycle"
    )
    sub = sync.add_subparsers(dest="sync_command")
    sync.set_defaults(handler=cmd_sync)  # no subcommand: the loop itself
    show = sub.add_parser(
        "status",
        help="per mart: last success, snapshot, lag, changes, error",
        description="What the sync did last, from its status file and the "
        "lake's snapshots (never dbt's DuckDB file).",
    )
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=cmd_sync_status)
