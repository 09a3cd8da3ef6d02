"""File operations of the ``incremental_parquet`` materialization (macros/materializations/).

SQL cannot create folders, rename or delete files, so the materialization hands those steps to
the project's dbt plugin (``dbt_plugin.Plugin.store``), which calls the functions here.

Layout of one model's lake (``location``) and its staging area (same filesystem, so a rename is
atomic)::

    <location>/<p1>=<v>[/<p2>=<w>]/data_0.parquet      one file per partition, nothing else
    <parent of location>/_staging/<name of location>/
        .lock                                          flock held while a run writes the model
        swap.lock                                      flock: exclusive during a swap, shared
                                                       by cooperative readers (read_lock)
        journal.json                                   present only while a swap is in progress
        <invocation id>/                               staged files of one run

A run stages complete files, then writes the journal (atomically), then swaps:

* phase 1 replaces every partition that loses keys to another partition with its rows minus
  those keys (keys vanish for a moment, never appear twice);
* phase 2 renames the final file of every rewritten or new partition into place;
* removals delete the files of partitions left without rows, then their empty folders.

Readers: every rename is atomic, but DuckDB (1.5.5) opens a Parquet file more than once per
query and reuses the footer it read first, so a query running while its files are renamed over
can fail ("TProtocolException: Invalid data", "Could not read enough bytes"). A reader that holds
``read_lock`` around each query never overlaps a swap: it sees the whole lake before or after a
run's swap. A reader that does not is still never shown a key twice (phase 1, and a pause of
``grace_seconds`` between the phases), but may see moved keys missing for a moment, or fail and
have to retry.

A run that finds a journal first rolls it forward: every rename whose staged file still exists
is done (staged files are complete: they were written and fsynced before the journal), then the
removals, then the journal and all staging leftovers are deleted. Every step is idempotent, so a
crash during the roll-forward is repaired by the next one.

Test hooks (environment variables, read at each step):

``CHRONO_LAKE_CRASH_AT=<point>``  the process sends itself SIGKILL at that point; points are
    ``before_staging``, ``after_staging``, ``after_journal``, ``during_phase1`` (after the first
    phase-1 rename), ``after_phase1``, ``during_phase2`` (after the first phase-2 rename),
    ``after_phase2``, ``after_swap`` (removals done, journal and staging still there).
``CHRONO_LAKE_SWAP_DELAY_MS=<ms>``  sleep after every rename and removal, so a test can watch
    a swap from another process.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import signal
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_FILE = "data_0.parquet"
JOURNAL_VERSION = 1
CRASH_POINTS = frozenset(
    {
        "before_staging",
        "after_staging",
        "after_journal",
        "during_phase1",
        "after_phase1",
        "during_phase2",
        "after_phase2",
        "after_swap",
    }
)

# flock descriptors held by this process, by lock file path; module level so that several
# plugin instances of one process (dbt may create more than one) share them.
_HELD_LOCKS: dict[str, int] = {}


class LakeError(RuntimeError):
    """A lake operation that cannot proceed; the message says what to do."""


@dataclass(frozen=True)
class LakePaths:
    """Where one model's files and staging area live."""

    location: Path

    @classmethod
    def of(cls, location: str) -> LakePaths:
        cleaned = location.rstrip("/")
        if not cleaned:
            raise LakeError(f"invalid lake location {location!r}")
        return cls(Path(cleaned))

    @property
    def staging_root(self) -> Path:
        return self.location.parent / "_staging" / self.location.name

    @property
    def journal(self) -> Path:
        return self.staging_root / "journal.json"

    @property
    def lock_file(self) -> Path:
        return self.staging_root / ".lock"

    @property
    def swap_lock_file(self) -> Path:
        return self.staging_root / "swap.lock"

    def invocation_dir(self, invocation_id: str) -> Path:
        if not invocation_id or "/" in invocation_id or invocation_id.startswith("."):
            raise LakeError(f"invalid invocation id {invocation_id!r}")
        return self.staging_root / invocation_id

    def target(self, relpath: str, depth: int) -> Path:
        """The data file of the partition folder `relpath` (e.g. 'archive_year=2023')."""
        parts = relpath.split("/")
        if len(parts) != depth or any(
            not part or part in (".", "..") or "=" not in part for part in parts
        ):
            raise LakeError(
                f"partition path {relpath!r} is not {depth} hive folder(s) of the form name=value"
            )
        return self.location.joinpath(*parts) / DATA_FILE


@dataclass
class RecoveryReport:
    rolled_forward: bool = False
    renamed: int = 0
    removed: int = 0
    leftovers_deleted: int = 0


@dataclass
class CommitReport:
    phase1: int = 0
    phase2: int = 0
    removed: int = 0
    seconds: float = 0.0
    journal: dict[str, Any] = field(default_factory=dict)


# -- test hooks -------------------------------------------------------------------------------


def crash_point(point: str) -> None:
    """SIGKILL this process when CHRONO_LAKE_CRASH_AT names `point` (test hook)."""
    assert point in CRASH_POINTS, point
    if os.environ.get("CHRONO_LAKE_CRASH_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


def _swap_delay() -> None:
    raw = os.environ.get("CHRONO_LAKE_SWAP_DELAY_MS")
    if raw:
        time.sleep(float(raw) / 1000)


# -- durability helpers ------------------------------------------------------------------------


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json_atomically(path: Path, payload: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


# -- locking -----------------------------------------------------------------------------------


def acquire_lock(paths: LakePaths) -> None:
    """Take the model's write lock (re-entrant within this process); fail if another has it."""
    key = str(paths.lock_file.resolve())
    if key in _HELD_LOCKS:
        return
    paths.staging_root.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise LakeError(
                f"another process is writing {paths.location} (lock {paths.lock_file}); "
                "wait for it to finish"
            ) from None
        raise
    _HELD_LOCKS[key] = fd


def release_lock(paths: LakePaths) -> None:
    key = str(paths.lock_file.resolve())
    fd = _HELD_LOCKS.pop(key, None)
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def locked(paths: LakePaths) -> Iterator[None]:
    acquire_lock(paths)
    try:
        yield
    finally:
        release_lock(paths)


@contextlib.contextmanager
def _swap_lock(paths: LakePaths, mode: int, timeout: float | None) -> Iterator[None]:
    """flock the model's swap lock in `mode` (LOCK_SH or LOCK_EX), polling until `timeout`."""
    paths.staging_root.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(paths.swap_lock_file, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        fd = os.open(paths.swap_lock_file, os.O_RDONLY)
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() > deadline:
                    raise LakeError(
                        f"waited {timeout:.0f}s for readers of {paths.location} to release "
                        f"{paths.swap_lock_file}; nothing was changed, run again"
                    ) from None
                time.sleep(0.005)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def read_lock(location: str | Path, timeout: float | None = None) -> Iterator[None]:
    """Hold while reading a model's files from another process: no swap happens meanwhile, so a
    query sees the whole lake before a run's swap or after it, never a mix, and never a file
    replaced under it (DuckDB opens a Parquet file more than once per query, so a file renamed
    over during a query can make that query fail). Release it between queries: a swap waits
    until no reader holds it.
    """
    with _swap_lock(LakePaths.of(str(location)), fcntl.LOCK_SH, timeout):
        yield


# -- recovery ----------------------------------------------------------------------------------


def _rename_into_place(src: Path, dst: Path) -> bool:
    """os.replace(src, dst), creating dst's folders; False when src is gone (already done)."""
    if not src.exists():
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)
    _fsync_dir(dst.parent)
    _swap_delay()
    return True


def _remove_partition(location: Path, target: Path) -> bool:
    """Delete a partition's data file, then its folders up to (not including) the location."""
    removed = False
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
        removed = True
    folder = target.parent
    while folder != location and location in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            break
        folder = folder.parent
    _fsync_dir(folder)
    if removed:
        _swap_delay()
    return removed


def apply_journal(paths: LakePaths, journal: Mapping[str, Any], *, resuming: bool) -> CommitReport:
    """Do (or finish) the swap a journal describes. Idempotent."""
    report = CommitReport(journal=dict(journal))
    grace = float(journal.get("grace_seconds", 0))
    phase1 = [(Path(src), Path(dst)) for src, dst in journal["phase1"]]
    phase2 = [(Path(src), Path(dst)) for src, dst in journal["phase2"]]
    removals = [Path(dst) for dst in journal["remove"]]

    for src, dst in phase1:
        if _rename_into_place(src, dst):
            report.phase1 += 1
            if not resuming:
                crash_point("during_phase1")
    if not resuming:
        crash_point("after_phase1")
    if report.phase1 and phase2 and grace > 0:
        # readers that opened a partition before phase 1 finish before its keys reappear
        time.sleep(grace)
    for src, dst in phase2:
        if _rename_into_place(src, dst):
            report.phase2 += 1
            if not resuming:
                crash_point("during_phase2")
    if not resuming:
        crash_point("after_phase2")
    pending_removals = [dst for dst in removals if dst.exists()]
    if pending_removals and grace > 0 and (report.phase1 or report.phase2):
        time.sleep(grace)
    for dst in removals:
        if _remove_partition(paths.location, dst):
            report.removed += 1
    if not resuming:
        crash_point("after_swap")
    return report


def _read_journal(paths: LakePaths) -> dict[str, Any] | None:
    try:
        text = paths.journal.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    journal: dict[str, Any] = json.loads(text)
    if journal.get("version") != JOURNAL_VERSION:
        raise LakeError(
            f"{paths.journal} has version {journal.get('version')!r}, expected "
            f"{JOURNAL_VERSION}; finish it with the version of the project that wrote it"
        )
    if Path(journal["location"]) != paths.location:
        raise LakeError(
            f"{paths.journal} belongs to {journal['location']}, not {paths.location}; "
            "two models share one staging folder: give them distinct locations"
        )
    return journal


def _delete_leftovers(paths: LakePaths, keep: str | None) -> int:
    """Delete staging leftovers (all but the locks, the journal and `keep`), and empty partition
    folders (name=value) that a crash between a file's removal and its folder's left behind."""
    deleted = 0
    if paths.staging_root.is_dir():
        for child in paths.staging_root.iterdir():
            if child.name in (
                paths.lock_file.name,
                paths.swap_lock_file.name,
                paths.journal.name,
                keep,
            ):
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
            deleted += 1
    if paths.location.is_dir():
        for folder, _subfolders, _files in os.walk(paths.location, topdown=False):
            current = Path(folder)
            if current != paths.location and "=" in current.name and not any(current.iterdir()):
                with contextlib.suppress(OSError):
                    current.rmdir()
                    deleted += 1
    return deleted


def recover(
    paths: LakePaths, keep: str | None = None, swap_lock_timeout: float | None = None
) -> RecoveryReport:
    """Lock the model, roll forward an interrupted swap, delete leftovers of crashed runs.

    The lock stays held (re-entrant) until ``release``; `keep` names this run's staging
    folder, which is not a leftover.
    """
    acquire_lock(paths)
    report = RecoveryReport()
    journal = _read_journal(paths)
    if journal is not None:
        with _swap_lock(paths, fcntl.LOCK_EX, swap_lock_timeout):
            done = apply_journal(paths, journal, resuming=True)
            paths.journal.unlink()
            _fsync_dir(paths.staging_root)
        report.rolled_forward = True
        report.renamed = done.phase1 + done.phase2
        report.removed = done.removed
    report.leftovers_deleted = _delete_leftovers(paths, keep)
    return report


def stage(paths: LakePaths, invocation_id: str) -> Path:
    """Create this run's (empty) staging folder."""
    crash_point("before_staging")
    folder = paths.invocation_dir(invocation_id)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def release(paths: LakePaths, invocation_id: str | None) -> None:
    """Delete this run's staging folder (unless a journal still needs it) and unlock."""
    if invocation_id and not paths.journal.exists():
        shutil.rmtree(paths.invocation_dir(invocation_id), ignore_errors=True)
    release_lock(paths)


# -- commit ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionPlan:
    """What happens to one partition folder. `phase1` and `final` name staged files in the
    run's staging folder; no `final` means the partition is removed."""

    relpath: str
    final: str | None
    phase1: str | None


def _staged(folder: Path, name: str) -> Path:
    """A staged file, named relative to this run's staging folder; it must be complete."""
    if not name or "/" in name or name.startswith("."):
        raise LakeError(f"staged file name {name!r} must be a plain file name")
    staged = folder / name
    if not staged.is_file() or staged.stat().st_size == 0:
        raise LakeError(f"staged file {staged} is missing or empty; nothing was changed")
    return staged


def commit(
    paths: LakePaths,
    invocation_id: str,
    depth: int,
    partitions: Sequence[PartitionPlan],
    grace_seconds: float,
    swap_lock_timeout: float | None = None,
) -> CommitReport:
    """Journal and swap the staged files of one run into the lake."""
    started = time.perf_counter()
    crash_point("after_staging")
    folder = paths.invocation_dir(invocation_id)
    phase1: list[tuple[str, str]] = []
    phase2: list[tuple[str, str]] = []
    removals: list[str] = []
    seen: set[str] = set()
    for plan in sorted(partitions, key=lambda p: p.relpath):
        if plan.relpath in seen:
            raise LakeError(f"partition {plan.relpath} appears twice in one plan")
        seen.add(plan.relpath)
        target = paths.target(plan.relpath, depth)
        if plan.phase1 is not None:
            phase1.append((str(_staged(folder, plan.phase1)), str(target)))
        if plan.final is not None:
            phase2.append((str(_staged(folder, plan.final)), str(target)))
        else:
            removals.append(str(target))
    for src, _ in (*phase1, *phase2):
        _fsync_file(Path(src))
    _fsync_dir(folder)
    journal: dict[str, Any] = {
        "version": JOURNAL_VERSION,
        "location": str(paths.location),
        "invocation_id": invocation_id,
        "grace_seconds": grace_seconds,
        "phase1": phase1,
        "phase2": phase2,
        "remove": removals,
    }
    with _swap_lock(paths, fcntl.LOCK_EX, swap_lock_timeout):
        _write_json_atomically(paths.journal, journal)
        crash_point("after_journal")
        report = apply_journal(paths, journal, resuming=False)
        paths.journal.unlink()
        _fsync_dir(paths.staging_root)
    shutil.rmtree(folder, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


# -- dispatch from the dbt plugin ----------------------------------------------------------------


def _as_plans(raw: Any) -> list[PartitionPlan]:
    if not isinstance(raw, list):
        raise LakeError("commit needs a list of partitions")
    plans = []
    for item in raw:
        if not isinstance(item, Mapping) or not isinstance(item.get("relpath"), str):
            raise LakeError(f"invalid partition entry {item!r}")
        final, phase1 = item.get("final"), item.get("phase1")
        plans.append(
            PartitionPlan(
                relpath=item["relpath"],
                final=str(final) if final else None,
                phase1=str(phase1) if phase1 else None,
            )
        )
    return plans


def run_operation(request: Mapping[str, Any]) -> str:
    """Execute one request of the materialization; returns a one-line summary for the log."""
    op = request.get("op")
    paths = LakePaths.of(str(request["location"]))
    invocation_id = request.get("invocation_id")
    timeout = request.get("swap_lock_timeout_seconds")
    swap_lock_timeout = None if timeout is None else float(timeout)
    if op == "recover":
        report = recover(
            paths,
            keep=str(invocation_id) if invocation_id else None,
            swap_lock_timeout=swap_lock_timeout,
        )
        if report.rolled_forward:
            return (
                f"rolled forward an interrupted swap of {paths.location}: "
                f"{report.renamed} renames, {report.removed} removals"
            )
        return f"recovered {paths.location}: {report.leftovers_deleted} leftovers deleted"
    if op == "stage":
        return f"staging in {stage(paths, str(invocation_id))}"
    if op == "commit":
        done = commit(
            paths,
            str(invocation_id),
            int(request["depth"]),
            _as_plans(request.get("partitions")),
            float(request.get("grace_seconds", 0)),
            swap_lock_timeout,
        )
        return (
            f"swapped {paths.location}: phase 1 {done.phase1}, phase 2 {done.phase2}, "
            f"removed {done.removed} partitions in {done.seconds:.3f}s"
        )
    if op == "release":
        release(paths, str(invocation_id) if invocation_id else None)
        return f"released {paths.location}"
    raise LakeError(f"unknown lake operation {op!r}")
