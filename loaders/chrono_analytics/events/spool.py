"""The writer's append-only spool: every accepted event is on disk before ``capture`` returns.

Layout of a spool folder (default ``<events_root>/_spool``; it must be on a local disk):

- ``<writer>.lock``: one per live writer, held with ``flock(LOCK_EX)`` for the writer's
  whole life. The kernel drops the lock when the process dies, however it dies.
- ``<writer>-<seq>.jsonl``: the writer's segments. Each line is the JSON array of one
  validated Row (event id included). A flush *rotates*: the rows in the buffer and the
  segments holding them leave together, a fresh segment takes new events, and the old
  segments are deleted only after the Parquet files of those rows are durable.
- ``_recovery.lock``: taken while a starting writer creates its spool and recovers dead
  writers (so recovery never sees a spool half-created).

Recovery (at writer start): under ``_recovery.lock``, every ``<writer>.lock`` whose flock
can be taken belongs to a dead writer; its segments (and segments whose lock file is gone)
are replayed into Parquet, then deleted, then the lock file. A crash during recovery only
means the next start replays again: the rows keep their event ids, so a replay can
duplicate rows but never lose or change them, and readers deduplicate by ``event_id``.

Guarantee: an event for which ``capture`` returned survives a crash of the process
(SIGKILL included): the line is in the kernel before ``capture`` returns. Surviving a crash
of the *machine* needs the data on disk: segments are not fsync'd per event (that would
cost a disk flush per event); a flush fsyncs the segments it rotates before writing their
Parquet files. So an OS crash or power loss can lose the events accepted since the last
flush (at most ``flush_interval_s`` seconds or ``max_buffer_events`` events).

A trailing line cut by a crash mid-write was never acknowledged (``capture`` had not
returned); recovery skips unparsable lines and reports how many.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from chrono_analytics.events.files import FileLock, ensure_dir, fsync_dir
from chrono_analytics.events.schema import FILE_COLUMNS, Row, from_micros
from chrono_analytics.events.validation import COMPACT_JSON, EventValidationError, normalize

log = logging.getLogger(__name__)

RECOVERY_LOCK: Final = "_recovery.lock"
_TIMESTAMP_COLUMNS: Final = ("event_timestamp", "created_at")


def encode_row(row: Row) -> bytes:
    return (COMPACT_JSON.encode(row) + "\n").encode("utf-8")


def decode_row(line: bytes) -> Row:
    """Parse a spool line and re-validate it: the row comes back identical or not at all."""
    values = json.loads(line)
    if not isinstance(values, list) or len(values) != len(FILE_COLUMNS):
        raise ValueError("not a spooled row")
    record: dict[str, object] = dict(zip(FILE_COLUMNS, values, strict=True))
    for name in _TIMESTAMP_COLUMNS:
        micros = record[name]
        if type(micros) is not int:
            raise ValueError(f"{name} is not integer microseconds")
        record[name] = from_micros(micros)
    if isinstance(record["event_data"], str):
        record["event_data"] = json.loads(record["event_data"])
    row = normalize(record)
    if row != tuple(values):
        raise ValueError("spooled row does not re-validate to itself")
    return row


class Spool:
    """The live spool of one writer (thread-safety is the writer's job)."""

    def __init__(self, folder: Path) -> None:
        ensure_dir(folder)
        self.folder = folder
        self.writer_id = f"{os.getpid()}-{uuid.uuid4().hex}"
        self._lock_path = folder / f"{self.writer_id}.lock"
        # The lock file appears under its real name already locked (flock follows the inode
        # through the rename), so a recovering process can never take a live writer's
        # freshly created lock file for a dead one.
        hidden = folder / f".{self.writer_id}.lock.tmp"
        self._lock_fd = os.open(hidden, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(self._lock_fd, f"pid {os.getpid()}\n".encode())
        os.rename(hidden, self._lock_path)
        fsync_dir(folder)
        self._seq = 0
        self._current = self._segment_path(0)
        self._fd = self._open_segment(self._current)
        self._current_bytes = 0
        self._retired: list[Path] = []

    def _segment_path(self, seq: int) -> Path:
        return self.folder / f"{self.writer_id}-{seq:08d}.jsonl"

    @staticmethod
    def _open_segment(path: Path) -> int:
        # no fsync here (this runs under the writer's lock): ``seal`` makes it durable
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o644)

    def append(self, line: bytes) -> None:
        """Append one line; on failure cut the segment back so no half line stays."""
        view = memoryview(line)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except BaseException:
            try:
                os.ftruncate(self._fd, self._current_bytes)
            except OSError:
                log.exception("spool %s: could not remove a partial line", self._current)
            raise
        self._current_bytes += len(line)

    def detach(self) -> tuple[list[Path], int]:
        """Start a fresh segment; return every segment whose rows now leave with a flush
        (earlier failed flushes included) and the still open descriptor of the last one,
        for the caller to fsync and close outside its lock (``seal``)."""
        old_fd = self._fd
        segments = [*self._retired, self._current]
        self._retired = []
        self._seq += 1
        self._current = self._segment_path(self._seq)
        self._fd = self._open_segment(self._current)
        self._current_bytes = 0
        return segments, old_fd

    def seal(self, fd: int) -> None:
        """Make a detached segment (content and folder entry) durable and close it."""
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(self.folder)

    def reattach(self, segments: list[Path]) -> None:
        """A flush failed: its rows are back in the buffer, so keep their segments."""
        self._retired = [*segments, *self._retired]

    @staticmethod
    def release(segments: list[Path]) -> None:
        for path in segments:
            path.unlink(missing_ok=True)
        if segments:
            fsync_dir(segments[0].parent)

    def close(self) -> None:
        """After a final successful flush: remove the empty segment and the lock file."""
        os.close(self._fd)
        if self._retired or self._current_bytes:
            # rows not flushed: leave everything for the next start's recovery
            os.close(self._lock_fd)
            return
        self._current.unlink(missing_ok=True)
        self._lock_path.unlink(missing_ok=True)
        fsync_dir(self.folder)
        os.close(self._lock_fd)

    def abandon(self) -> None:
        """Close the files without deleting anything (rows remain for recovery)."""
        for fd in (self._fd, self._lock_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


@dataclass
class Orphan:
    """The spool of a dead writer, locked by the recovering process."""

    writer_id: str
    segments: list[Path]
    lock_path: Path | None
    lock_fd: int | None
    bad_lines: int = 0

    def rows(self) -> Iterator[Row]:
        for path in self.segments:
            with open(path, "rb") as handle:
                for line in handle:
                    try:
                        yield decode_row(line)
                    except (ValueError, EventValidationError) as exc:
                        self.bad_lines += 1
                        log.warning("spool %s: skipped an unreadable line (%s)", path, exc)

    def finish(self) -> None:
        Spool.release(self.segments)
        if self.lock_path is not None:
            self.lock_path.unlink(missing_ok=True)
        if self.lock_fd is not None:
            os.close(self.lock_fd)

    def give_up(self) -> None:
        if self.lock_fd is not None:
            os.close(self.lock_fd)


def recovery_lock(folder: Path) -> FileLock:
    """``_recovery.lock`` of a spool folder (blocking: recoveries take turns)."""
    ensure_dir(folder)
    return FileLock(folder / RECOVERY_LOCK)


def find_orphans(folder: Path, *, own_writer_id: str | None = None) -> Iterator[Orphan]:
    """Dead writers' spools (call under recovery_lock). Each is yielded locked."""
    if not folder.is_dir():
        return
    for hidden in folder.glob(".*.lock.tmp"):  # a writer died between create and rename
        try:
            fd = os.open(hidden, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            hidden.unlink(missing_ok=True)
        except BlockingIOError:
            pass  # still starting up
        finally:
            os.close(fd)
    segments_by_writer: dict[str, list[Path]] = {}
    for path in folder.glob("*.jsonl"):
        writer_id = path.stem.rsplit("-", 1)[0]
        segments_by_writer.setdefault(writer_id, []).append(path)
    locks = {p.stem: p for p in folder.glob("*.lock") if p.name != RECOVERY_LOCK}
    for writer_id in sorted(set(segments_by_writer) | set(locks)):
        if writer_id == own_writer_id:
            continue
        lock_path = locks.get(writer_id)
        lock_fd: int | None = None
        if lock_path is not None:
            try:
                lock_fd = os.open(lock_path, os.O_RDWR)
            except FileNotFoundError:
                lock_path = None
            else:
                try:
                    fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(lock_fd)
                    continue  # a live writer
        # without a lock file, a writer has already closed (or is being recovered): its
        # remaining segments are orphans (writers create the lock before any segment)
        yield Orphan(
            writer_id,
            sorted(segments_by_writer.get(writer_id, [])),
            lock_path,
            lock_fd,
        )
