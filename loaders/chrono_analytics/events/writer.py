"""The event writer: validate, buffer, write hive-partitioned Parquet, durably.

Usage from the application (sync or asyncio)::

    writer = EventWriter(source_component="api", environment="production")
    writer.capture(Event.pipeline_stage_event("fetch", "completed", scrape_page_id=42,
                                              duration_ms=181.5))
    await writer.acapture(Event.user_interaction("search", user_id=7))
    writer.close()   # or `with EventWriter(...) as writer:` / `async with`

When events reach the files:

- when the buffer holds ``max_buffer_events`` events: ``capture`` flushes in the calling
  thread; ``acapture`` flushes in a worker thread (``asyncio.to_thread``), so the event
  loop is never blocked by Parquet writing or fsync. A failure of such a flush does not
  fail the capture (the event is accepted and stays buffered): it is logged, kept in
  ``last_flush_error`` and retried by the timer, by the next size trigger and by
  ``close()``, which raise it;
- every ``flush_interval_s`` seconds (a daemon timer thread);
- on ``flush()``/``aflush()``, ``close()``/``aclose()``, leaving a ``with`` block, and at
  interpreter exit (``atexit``; also after an unhandled exception in the main thread).

A flush writes one new Parquet file per (event_date, event_hour) partition it touches:
``<root>/event_date=YYYY-MM-DD/event_hour=H/part-<utc>-<pid>-<uuid>.parquet``, written
in the writer's in-flight folder (``<root>/_inflight/<lease>/``, which it holds a lock on
for its whole life, so that no compaction ever removes it), fsync'd, renamed into place,
folder fsync'd (``files.py``). The uuid4 in the name keeps concurrent writers (threads or
processes) from ever colliding.

Loss bound. With the spool (default), an accepted event is in the spool file before
``capture`` returns: a SIGKILL, an OOM kill or a crash loses nothing; the next writer
started on the same spool folder writes the dead writer's events (see ``spool.py``).
An OS crash or power loss can lose the events accepted since the last flush (at most
``flush_interval_s`` seconds or ``max_buffer_events`` events). Without the spool
(``spool=False``) any abnormal end (SIGKILL, SIGTERM without a handler that exits
normally, ``os._exit``) loses the buffered events, the same bound. A failed flush (disk
full) keeps its events in the buffer and the timer retries; rows of partitions already
written in that flush may be written twice (same event_id; readers deduplicate).

Create writers after forking (one per worker process, e.g. in the app's startup hook).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import sys
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Final

import pyarrow as pa

from chrono_analytics import config
from chrono_analytics.events.api import Event
from chrono_analytics.events.files import (
    COMPRESSION,
    Lease,
    ensure_dir,
    write_parquet_atomic,
    write_table,
)
from chrono_analytics.events.layout import partition_dir
from chrono_analytics.events.schema import FILE_SCHEMA, TS_INDEX, US_PER_HOUR, Row
from chrono_analytics.events.spool import (
    Spool,
    encode_row,
    find_orphans,
    recovery_lock,
)
from chrono_analytics.events.validation import Defaults, normalize, now_micros

log = logging.getLogger(__name__)

DEFAULT_MAX_BUFFER_EVENTS: Final = 5_000
DEFAULT_FLUSH_INTERVAL_S: Final = 5.0
SPOOL_DIR_NAME: Final = "_spool"
_RECOVERY_BATCH: Final = 50_000


class WriterClosedError(RuntimeError):
    """``capture`` was called on a closed writer."""


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    rows: int
    size_bytes: int


@dataclass(frozen=True)
class FlushResult:
    events: int
    files: tuple[WrittenFile, ...]


def part_file_name() -> str:
    """A name no other flush, thread or process can produce: time, pid, random uuid."""
    return f"part-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{os.getpid()}-{uuid.uuid4().hex}.parquet"


def rows_to_table(rows: Sequence[Row]) -> pa.Table:
    """An Arrow table of FILE_SCHEMA from validated rows."""
    columns: list[Sequence[object]] = (
        list(zip(*rows, strict=True)) if rows else [[] for _ in FILE_SCHEMA]
    )
    arrays: list[pa.Array] = []
    for field, values in zip(FILE_SCHEMA, columns, strict=True):
        if isinstance(field.type, pa.ExtensionType):
            storage = pa.array(values, type=field.type.storage_type)
            arrays.append(pa.ExtensionArray.from_storage(field.type, storage))
        else:
            arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=FILE_SCHEMA)


def group_by_hour(rows: Sequence[Row]) -> list[tuple[int, list[Row]]]:
    groups: dict[int, list[Row]] = {}
    for row in rows:
        hour = row[TS_INDEX] // US_PER_HOUR
        bucket = groups.get(hour)
        if bucket is None:
            groups[hour] = [row]
        else:
            bucket.append(row)
    return sorted(groups.items())


def write_hour(
    root: Path, hour_index: int, rows: Sequence[Row], lease: Lease, compression: str
) -> WrittenFile:
    folder = partition_dir(root, hour_index)
    ensure_dir(folder)
    path = folder / part_file_name()
    size = write_parquet_atomic(rows_to_table(rows), path, lease, compression=compression)
    return WrittenFile(path, len(rows), size)


def _warm_up(compression: str) -> None:
    """Write an empty table to memory once, so that every lazy import of the flush path
    happens now. pyarrow imports pandas (when installed) at its first array construction;
    at interpreter exit such an import fails ("can't register atexit after shutdown") and
    the final flush would be lost."""
    write_table(rows_to_table([]), pa.BufferOutputStream(), compression=compression)


class EventWriter:
    """Buffered, durable writer of contract events to ``root`` (see the module docstring).

    ``root`` defaults to ``chrono_analytics.config.events_root()``. ``source_component``,
    ``source_module`` and ``environment`` fill those columns when an event leaves them
    empty. ``flush_interval_s=None`` disables the timer thread; ``spool=False`` disables
    the crash spool; ``flush_at_exit=False`` skips the atexit hook.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        max_buffer_events: int = DEFAULT_MAX_BUFFER_EVENTS,
        flush_interval_s: float | None = DEFAULT_FLUSH_INTERVAL_S,
        source_component: str | None = None,
        source_module: str | None = None,
        environment: str | None = None,
        spool: bool = True,
        spool_dir: str | os.PathLike[str] | None = None,
        flush_at_exit: bool = True,
        compression: str = COMPRESSION,
    ) -> None:
        if max_buffer_events < 1:
            raise ValueError("max_buffer_events must be >= 1")
        if flush_interval_s is not None and not flush_interval_s > 0:
            raise ValueError("flush_interval_s must be > 0 or None")
        self.root = Path(root) if root is not None else config.events_root()
        self.max_buffer_events = max_buffer_events
        self.flush_interval_s = flush_interval_s
        self.defaults = Defaults(source_component, source_module, environment)
        self.compression = compression
        ensure_dir(self.root)
        _warm_up(compression)
        self._lease = Lease(self.root)  # its in-flight folder (files.py)

        self._lock = threading.Lock()  # buffer, spool appends, closed flag
        self._flush_lock = threading.Lock()  # one flush at a time
        self._ts_lock = threading.Lock()
        self._buffer: list[Row] = []
        self._closed = False
        self._flush_pending = False
        self._flush_at = max_buffer_events  # buffer size that triggers a flush
        self.last_flush_error: Exception | None = None
        self._last_auto_ts = 0
        self.accepted = 0
        self.written = 0
        self.files_written = 0
        self.recovered = 0

        self._spool: Spool | None = None
        if spool:
            folder = Path(spool_dir) if spool_dir is not None else self.root / SPOOL_DIR_NAME
            try:
                # the spool is created under the recovery lock too, so that a recovering
                # writer never sees it half-created (lock file made, not yet locked)
                with recovery_lock(folder):
                    self._spool = Spool(folder)
                    try:
                        self.recovered = self._recover(folder)
                    except BaseException:
                        self._spool.close()  # nothing of ours in it yet: remove it
                        raise
            except BaseException:
                self._lease.release()
                raise

        self._atexit_registered = flush_at_exit
        if flush_at_exit:
            atexit.register(self._at_exit)
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        if flush_interval_s is not None:
            self._timer = threading.Thread(
                target=self._run_timer, name="chrono-events-flush", daemon=True
            )
            self._timer.start()

    # -- capture -------------------------------------------------------------------------

    def capture(self, event: Event) -> str:
        """Validate and buffer one event; return its event_id. Raises EventValidationError."""
        row = self._row_of(event)
        if self._accept(row):
            self._size_flush()
        return str(row[0])

    def capture_record(self, record: Mapping[str, object]) -> str:
        """Same for a plain mapping in JSON form (timestamps as ISO-8601 strings with an
        offset, or aware datetimes); ``event_timestamp`` is required."""
        row = normalize(record, defaults=self.defaults)
        if self._accept(row):
            self._size_flush()
        return str(row[0])

    async def acapture(self, event: Event) -> str:
        """``capture`` for asyncio: a size-triggered flush runs in a worker thread."""
        row = self._row_of(event)
        if self._accept(row):
            await asyncio.to_thread(self._size_flush)
        return str(row[0])

    async def acapture_record(self, record: Mapping[str, object]) -> str:
        row = normalize(record, defaults=self.defaults)
        if self._accept(row):
            await asyncio.to_thread(self._size_flush)
        return str(row[0])

    def _row_of(self, event: Event) -> Row:
        auto_ts = None if event.event_timestamp is not None else self._next_auto_timestamp()
        # an Event's attributes are exactly contract columns (None = not set)
        return normalize(event.__dict__, defaults=self.defaults, default_timestamp_us=auto_ts)

    def _next_auto_timestamp(self) -> int:
        """Now, strictly increasing per writer (distinct captures keep distinct ids)."""
        now = now_micros()
        with self._ts_lock:
            if now <= self._last_auto_ts:
                now = self._last_auto_ts + 1
            self._last_auto_ts = now
        return now

    def _accept(self, row: Row) -> bool:
        """Buffer (and spool) a row; True when the caller should flush."""
        line = encode_row(row) if self._spool is not None else b""
        with self._lock:
            if self._closed:
                raise WriterClosedError(f"the event writer for {self.root} is closed")
            if self._spool is not None:
                self._spool.append(line)
            self._buffer.append(row)
            self.accepted += 1
            if len(self._buffer) >= self._flush_at and not self._flush_pending:
                self._flush_pending = True
                return True
        return False

    # -- flush ---------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Events accepted and not yet in a Parquet file."""
        with self._lock:
            return len(self._buffer)

    def flush(self) -> FlushResult:
        """Write every buffered event now (one file per touched hour partition)."""
        with self._flush_lock:
            segments: list[Path] = []
            detached_fd: int | None = None
            with self._lock:
                rows, self._buffer = self._buffer, []
                self._flush_pending = False
                if self._spool is not None and rows:
                    segments, detached_fd = self._spool.detach()
            if not rows:
                return FlushResult(0, ())
            if detached_fd is not None and self._spool is not None:
                try:
                    self._spool.seal(detached_fd)  # durable before its rows go to Parquet
                except BaseException:
                    with self._lock:
                        self._buffer[:0] = rows
                        if self._spool is not None:
                            self._spool.reattach(segments)
                    raise
            groups = group_by_hour(rows)
            written: list[WrittenFile] = []
            for position, (hour, group) in enumerate(groups):
                try:
                    written.append(
                        write_hour(self.root, hour, group, self._lease, self.compression)
                    )
                except BaseException:
                    remaining = [row for _, later in groups[position:] for row in later]
                    with self._lock:
                        self._buffer[:0] = remaining
                        if self._spool is not None:
                            self._spool.reattach(segments)
                    self.written += len(rows) - len(remaining)
                    self.files_written += len(written)
                    raise
            if segments:
                Spool.release(segments)
            self._flush_at = self.max_buffer_events
            self.last_flush_error = None
            self.written += len(rows)
            self.files_written += len(written)
            return FlushResult(len(rows), tuple(written))

    def _size_flush(self) -> None:
        """A flush triggered by the buffer size. Its failure is not the captured event's:
        the event is accepted (buffered, spooled), so the error is logged and kept in
        ``last_flush_error``, the next size-triggered attempt waits for another
        ``max_buffer_events`` events, and the timer retries meanwhile."""
        try:
            self.flush()
        except Exception as exc:
            self.last_flush_error = exc
            with self._lock:
                self._flush_at = len(self._buffer) + self.max_buffer_events
            log.exception("flushing events to %s failed; the events stay buffered", self.root)

    async def aflush(self) -> FlushResult:
        return await asyncio.to_thread(self.flush)

    def _run_timer(self) -> None:
        interval = self.flush_interval_s
        assert interval is not None
        while not self._stop.wait(interval):
            try:
                self.flush()
            except Exception as exc:
                self.last_flush_error = exc
                log.exception("flushing events to %s failed; retrying in %s s", self.root, interval)

    # -- recovery ------------------------------------------------------------------------

    def _recover(self, folder: Path) -> int:
        """Write the events of dead writers' spools (see spool.py); return how many. Call
        under ``recovery_lock(folder)``."""
        assert self._spool is not None
        recovered = 0
        for orphan in find_orphans(folder, own_writer_id=self._spool.writer_id):
            try:
                batch: list[Row] = []
                for row in orphan.rows():
                    batch.append(row)
                    if len(batch) >= _RECOVERY_BATCH:
                        recovered += self._write_now(batch)
                        batch = []
                recovered += self._write_now(batch)
            except BaseException:
                orphan.give_up()
                raise
            orphan.finish()
            if orphan.segments:
                log.warning(
                    "recovered the spool of writer %s (%d unreadable lines)",
                    orphan.writer_id,
                    orphan.bad_lines,
                )
        return recovered

    def _write_now(self, rows: list[Row]) -> int:
        for hour, group in group_by_hour(rows):
            write_hour(self.root, hour, group, self._lease, self.compression)
            self.files_written += 1
        self.written += len(rows)
        return len(rows)

    # -- close ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the timer, write every buffered event, release the spool and the in-flight
        folder. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.join()
        try:
            self.flush()
        except BaseException:
            if self._spool is not None:
                self._spool.abandon()  # the events stay in the spool for the next start
            raise
        finally:
            self._lease.release()
            if self._atexit_registered:
                atexit.unregister(self._at_exit)
                self._atexit_registered = False
        if self._spool is not None:
            self._spool.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    @property
    def closed(self) -> bool:
        return self._closed

    def _at_exit(self) -> None:
        try:
            self.close()
        except Exception as exc:  # at exit there is nobody left to raise to
            print(
                f"chrono_analytics.events: could not flush {self.pending} events to "
                f"{self.root} at exit: {exc}",
                file=sys.stderr,
            )

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> EventWriter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
