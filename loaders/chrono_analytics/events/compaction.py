"""Compaction: merge the small files of each closed hour into one file per partition.

An hour is *closed* when its end is older than ``now - grace`` (default 15 minutes); open
hours are never touched. For each closed partition holding at least one ``part-*`` file:

1. read every data file of the partition (the previous ``compacted.parquet`` included),
   deduplicate by ``event_id`` (the row with the earliest ``created_at`` wins; ties go to
   the file that sorts first, ``compacted.parquet`` before ``part-*``), sort by
   ``event_timestamp, event_id``;
2. write ``compacted.parquet`` in the compaction's in-flight folder (``files.py``), fsync,
   ``os.replace`` it into place (the name is deterministic: one compacted file per
   partition, replaced atomically), fsync the folder;
3. delete exactly the ``part-*`` files read in step 1 (a file a late writer adds meanwhile
   is left for the next run), fsync the folder.

In-flight files. Each run first removes the in-flight folders of writers that are gone
(``files.sweep``: a killed writer's or compaction's half-written file). The in-flight files
of live writers, ingests and compactions are never touched, whatever the grace period:
their owners hold a lock on them, and they are not in the partition folders this module
lists. The grace period only decides which hours are closed.

Crash story. Before step 2's rename, readers see the old files only (the in-flight file
is outside every partition folder; the next run removes it). Between the rename and the
end of step 3, readers see the compacted file *and* some of the small files: the same
rows twice, with the same ``event_id``. That window is milliseconds in a normal run;
after a crash it lasts until the next run, which reads the compacted file plus the
leftovers, deduplicates, rewrites the same rows and deletes the leftovers, so it
converges to exactly what an uninterrupted run produces. Readers must therefore
deduplicate by ``event_id`` (the events mart does, as it must anyway for replayed spools
and re-ingested files). Rows are never lost: nothing is deleted before the rows are
durable in the compacted file.

A query that lists a small file just before step 3 deletes it can fail with "file not
found"; rerunning it succeeds. Only one compaction runs per root at a time
(``<root>/_compaction.lock``, flock): two concurrent runs could otherwise replace each
other's compacted file and delete a late file's only copy.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chrono_analytics.events.files import (
    COMPRESSION,
    Lease,
    fsync_dir,
    is_data_file,
    sweep,
    write_parquet_atomic,
)
from chrono_analytics.events.layout import parse_partition_dir
from chrono_analytics.events.schema import FILE_SCHEMA, US_PER_HOUR, to_micros

COMPACTED_NAME: Final = "compacted.parquet"
LOCK_NAME: Final = "_compaction.lock"
DEFAULT_GRACE: Final = timedelta(minutes=15)


class CompactionBusyError(RuntimeError):
    """Another compaction holds the root's lock."""


@dataclass
class CompactionReport:
    partitions_seen: int = 0
    partitions_open: int = 0
    partitions_compacted: int = 0
    files_before: int = 0
    files_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    rows_read: int = 0
    rows_written: int = 0
    abandoned_files_removed: int = 0  # in-flight files of writers that are gone
    failures: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def duplicates_removed(self) -> int:
        return self.rows_read - self.rows_written


def _partitions(root: Path) -> list[tuple[int, Path]]:
    """Every partition folder under ``root``, oldest hour first."""
    found: list[tuple[int, Path]] = []
    for day_dir in root.iterdir():
        if not day_dir.is_dir() or not day_dir.name.startswith("event_date="):
            continue
        for hour_dir in day_dir.iterdir():
            hour_index = parse_partition_dir(root, hour_dir)
            if hour_index is not None and hour_dir.is_dir():
                found.append((hour_index, hour_dir))
    return sorted(found)


def conform(table: pa.Table) -> pa.Table:
    """``table`` with exactly FILE_SCHEMA (same columns in contract order, same types)."""
    unexpected = set(table.column_names) - set(FILE_SCHEMA.names)
    if unexpected:
        raise ValueError(f"unexpected columns {sorted(unexpected)}")
    columns: list[pa.ChunkedArray] = []
    for target in FILE_SCHEMA:
        if target.name not in table.column_names:
            columns.append(pa.chunked_array([pa.nulls(table.num_rows, target.type)]))
            continue
        column = table[target.name]
        if column.type != target.type:
            if isinstance(target.type, pa.ExtensionType):
                storage = column.cast(target.type.storage_type)
                column = pa.chunked_array(
                    [pa.ExtensionArray.from_storage(target.type, c) for c in storage.chunks],
                    type=target.type,
                )
            else:
                column = column.cast(target.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=FILE_SCHEMA)


def deduplicate(table: pa.Table) -> pa.Table:
    """One row per event_id (earliest created_at, then earliest position), sorted by time."""
    if table.num_rows == 0:
        return table
    positioned = table.append_column("__position", pa.array(range(table.num_rows), pa.int64()))
    order = pc.sort_indices(
        positioned,
        sort_keys=[
            ("event_id", "ascending"),
            ("created_at", "ascending"),
            ("__position", "ascending"),
        ],
    )
    ids = pc.take(positioned["event_id"], order).combine_chunks()
    first = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1))
    keep_mask = pa.concat_arrays([pa.array([True]), first.cast(pa.bool_())])
    kept = pc.take(table, pc.filter(order, keep_mask))
    final_order = pc.sort_indices(
        kept, sort_keys=[("event_timestamp", "ascending"), ("event_id", "ascending")]
    )
    return pc.take(kept, final_order)


def _remove_inputs(folder: Path, inputs: list[Path]) -> None:
    """Step 3 (a function of its own so that tests can crash here)."""
    for path in inputs:
        path.unlink(missing_ok=True)
    fsync_dir(folder)


def _compact_partition(
    folder: Path, lease: Lease, compression: str
) -> tuple[int, int, int, int, int, int]:
    """Return (files_before, bytes_before, rows_read, rows_written, files_after, bytes_after)."""
    data_files = sorted(p for p in folder.iterdir() if is_data_file(p.name))
    small = [p for p in data_files if p.name != COMPACTED_NAME]
    bytes_before = sum(p.stat().st_size for p in data_files)
    if not small:
        return len(data_files), bytes_before, 0, 0, len(data_files), bytes_before
    tables = [conform(pq.read_table(p)) for p in data_files]
    merged = pa.concat_tables(tables)
    result = deduplicate(merged)
    size = write_parquet_atomic(result, folder / COMPACTED_NAME, lease, compression=compression)
    _remove_inputs(folder, small)
    return len(data_files), bytes_before, merged.num_rows, result.num_rows, 1, size


class _RootLock:
    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)

    def __enter__(self) -> _RootLock:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise CompactionBusyError(
                f"another compaction of this root is running (it holds {self.path})"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def _count_left_as_is(report: CompactionReport, folder: Path) -> None:
    """Count a partition that keeps its files (open hour, or a failure) before and after."""
    files = [p for p in folder.iterdir() if is_data_file(p.name)]
    size = sum(p.stat().st_size for p in files)
    report.files_before += len(files)
    report.files_after += len(files)
    report.bytes_before += size
    report.bytes_after += size


def compact(
    root: str | os.PathLike[str],
    *,
    grace: timedelta = DEFAULT_GRACE,
    now: datetime | None = None,
    compression: str = COMPRESSION,
) -> CompactionReport:
    """Compact every closed hour partition under ``root`` (see the module docstring).

    A partition that cannot be read (a foreign or damaged file) is left as it is and
    listed in ``report.failures``; the others are still compacted.
    """
    root_path = Path(root)
    report = CompactionReport()
    if not root_path.is_dir():
        return report
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    cutoff_us = to_micros(moment - grace)
    with _RootLock(root_path):
        report.abandoned_files_removed = sweep(root_path)
        lease = Lease(root_path)
        try:
            _compact_closed_hours(root_path, report, cutoff_us, lease, compression)
        finally:
            lease.release()
    return report


def _compact_closed_hours(
    root_path: Path,
    report: CompactionReport,
    cutoff_us: int,
    lease: Lease,
    compression: str,
) -> None:
    for hour_index, folder in _partitions(root_path):
        report.partitions_seen += 1
        if (hour_index + 1) * US_PER_HOUR > cutoff_us:
            report.partitions_open += 1
            _count_left_as_is(report, folder)
            continue
        try:
            files_b, bytes_b, rows_r, rows_w, files_a, bytes_a = _compact_partition(
                folder, lease, compression
            )
        except (OSError, ValueError, pa.ArrowException) as exc:
            report.failures.append((folder, f"{type(exc).__name__}: {exc}"))
            _count_left_as_is(report, folder)
            continue
        if rows_r:
            report.partitions_compacted += 1
        report.files_before += files_b
        report.bytes_before += bytes_b
        report.rows_read += rows_r
        report.rows_written += rows_w
        report.files_after += files_a
        report.bytes_after += bytes_a
