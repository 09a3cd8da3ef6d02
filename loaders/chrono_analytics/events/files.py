"""Durable, atomic file operations shared by the writer and the compaction.

Publishing. A Parquet file appears in its partition folder only complete: it is written
in the writer's own in-flight folder, fsync'd, renamed into the partition folder with
``os.replace`` (one step: readers see the old state or the new file) and the partition
folder is fsync'd. Partition folders therefore only ever hold published files.

In-flight files. Every writer (an ``EventWriter``, hence every ``events ingest``, and every
compaction) holds a *lease* on ``<root>/_inflight/``:

- ``<lease>.lock``: held with ``flock(LOCK_EX)`` for the lease's whole life. The kernel
  drops the lock when the process ends, however it ends (SIGKILL, OOM, a crash).
- ``<lease>/``: the lease's in-flight files (``.<final name>.<random>.tmp``).
- ``_registry.lock``: taken (``flock``, briefly) to create a lease and to sweep.

A lease is created under the registry lock: lock file created and locked, then its folder.
It is released by its owner: folder emptied and removed, then the lock file removed, then
the lock dropped. ``sweep`` (run by each compaction) takes the registry lock and removes
every lease whose lock it can take (its owner is gone) and every folder without a lock file
(a released lease never has one, a half-created one cannot be seen under the registry
lock). A live writer's lock cannot be taken, so its files are never touched, whatever the
compaction's grace period; no clock or age is involved. The folder must be on a local disk
(``flock``), on the same file system as the partition folders (``os.replace``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from chrono_analytics.events.schema import COLUMNS

COMPRESSION: Final = "zstd"
INFLIGHT_DIR: Final = "_inflight"
REGISTRY_LOCK: Final = "_registry.lock"
_LOCK_SUFFIX: Final = ".lock"

# Dictionary encoding only where values repeat (schema.Column.dictionary); timestamps get
# delta encoding, the other near-unique columns plain. Measured on a 41,666-row hour of the
# benchmark stream: 2.38 MB with pyarrow's defaults, 1.72 MB with these settings.
DICTIONARY_COLUMNS: Final = [c.name for c in COLUMNS if c.dictionary]
COLUMN_ENCODING: Final = {
    c.name: "DELTA_BINARY_PACKED" for c in COLUMNS if pa.types.is_timestamp(c.arrow_type)
}


def write_table(table: pa.Table, sink: Any, *, compression: str = COMPRESSION) -> None:
    """pyarrow's write_table with the project's encodings (``table`` has FILE_SCHEMA)."""
    pq.write_table(
        table,
        sink,
        compression=compression,
        use_dictionary=DICTIONARY_COLUMNS,
        column_encoding=COLUMN_ENCODING,
    )


def is_data_file(name: str) -> bool:
    return name.endswith(".parquet") and not name.startswith(".")


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(folder: Path) -> None:
    """Create ``folder`` and its missing parents, making each new entry durable."""
    if folder.is_dir():
        return
    missing: list[Path] = []
    probe = folder
    while not probe.is_dir():
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another writer created it first
            path.mkdir()
        fsync_dir(path.parent)


class FileLock:
    """``flock(LOCK_EX)`` on a file for the span of a ``with`` block (blocking)."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)  # drops the lock


class Lease:
    """A writer's claim on its in-flight folder under ``<root>/_inflight`` (see above)."""

    def __init__(self, root: Path) -> None:
        registry = root / INFLIGHT_DIR
        ensure_dir(registry)
        self.lease_id = f"{os.getpid()}-{uuid.uuid4().hex}"
        self.folder = registry / self.lease_id
        self._lock_path = registry / f"{self.lease_id}{_LOCK_SUFFIX}"
        with FileLock(registry / REGISTRY_LOCK):
            self._fd: int | None = os.open(
                self._lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644
            )
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.folder.mkdir()
                fsync_dir(registry)
            except BaseException:
                self._lock_path.unlink(missing_ok=True)
                os.close(self._fd)
                raise

    def release(self) -> None:
        """Remove the folder (and anything a failed write left in it), then the lock file.
        Idempotent."""
        if self._fd is None:
            return
        shutil.rmtree(self.folder, ignore_errors=True)
        self._lock_path.unlink(missing_ok=True)
        fsync_dir(self.folder.parent)
        os.close(self._fd)
        self._fd = None


def sweep(root: Path) -> int:
    """Remove the in-flight folders of writers that are gone; return how many files they
    held. Never touches a live lease (see the module docstring)."""
    registry = root / INFLIGHT_DIR
    if not registry.is_dir():
        return 0
    removed = 0
    with FileLock(registry / REGISTRY_LOCK):
        for lock_path in registry.glob(f"*{_LOCK_SUFFIX}"):
            if lock_path.name == REGISTRY_LOCK:
                continue
            try:
                fd = os.open(lock_path, os.O_RDWR)
            except FileNotFoundError:  # released meanwhile
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # a live writer
            try:
                removed += _remove_folder(registry / lock_path.name[: -len(_LOCK_SUFFIX)])
                lock_path.unlink(missing_ok=True)
            finally:
                os.close(fd)
        for folder in registry.iterdir():
            if folder.is_dir() and not (registry / f"{folder.name}{_LOCK_SUFFIX}").exists():
                removed += _remove_folder(folder)
        fsync_dir(registry)
    return removed


def _remove_folder(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    count = sum(1 for p in folder.rglob("*") if not p.is_dir())
    shutil.rmtree(folder)
    return count


def write_parquet_atomic(
    table: pa.Table, final: Path, lease: Lease, *, compression: str = COMPRESSION
) -> int:
    """Write ``table`` to ``final`` atomically and durably through ``lease``'s in-flight
    folder; return the file size in bytes. An existing ``final`` is replaced in one step
    (readers see the old or the new file)."""
    tmp = lease.folder / f".{final.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(tmp, "xb") as handle:
            write_table(table, handle, compression=compression)
            handle.flush()
            os.fsync(handle.fileno())
            size = handle.tell()
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(final.parent)
    return size
