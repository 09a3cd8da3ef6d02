"""The steps of an ``incremental_parquet`` run that are not SQL: lock, plan, commit, vacuum.

The materialization (macros/materializations/incremental_parquet.sql) calls them through the
``chrono_lake`` DuckDB function (lake/channel.py); each returns a JSON-able result. SQL does
the data work (the delta, the merge, the COPY of each file); this module decides which files
to write and which to retire, checks what SQL computed, and publishes the snapshot.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq

from chrono_analytics.lake import lock
from chrono_analytics.lake.s3 import is_remote
from chrono_analytics.lake.settings import ModelSettings
from chrono_analytics.lake.snapshot import (
    Column,
    DataFile,
    LakeError,
    Snapshot,
    current_snapshot,
    list_versions,
    partition_folder,
    read_snapshot,
    snapshot_path,
)
from chrono_analytics.lake.store import Store, open_store

CRASH_POINTS = frozenset(
    {
        "after_begin",  # lock held, nothing written
        "during_write",  # the first new data file written, others not
        "before_publish",  # every new file written, snapshot not published
        "after_publish",  # committed, vacuum not done
        "during_vacuum",  # the first superseded file deleted
    }
)


def crash_point(point: str) -> None:
    """SIGKILL this process when CHRONO_LAKE_CRASH_AT names `point` (test hook)."""
    assert point in CRASH_POINTS, point
    if os.environ.get("CHRONO_LAKE_CRASH_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


# -- begin ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Begin:
    """What a run starts from: the current snapshot (if any) and the mode."""

    settings: ModelSettings
    snapshot: Snapshot | None
    full_refresh: bool
    since: str | None

    def to_json(self) -> dict[str, Any]:
        snap = self.snapshot
        return {
            "settings": self.settings.to_json(),
            "version": 0 if snap is None else snap.version,
            "full_refresh": self.full_refresh,
            "files": [] if snap is None else [_file_uri(self.settings, f.path) for f in snap.files],
            "rows": 0 if snap is None else snap.rows,
            "columns": [] if snap is None else [c.to_json() for c in snap.columns],
            "uniform_schema": snap is None or snap.uniform_schema,
            "watermark": None if snap is None else snap.watermark,
            "upstream": {} if snap is None else snap.upstream,
            "since": self.since,
        }


def _file_uri(settings: ModelSettings, relpath: str) -> str:
    return open_store(settings.location).uri(relpath)


def subtract_lookback(watermark: str, seconds: int) -> str:
    """The watermark minus the lookback, as a timestamptz literal's text (UTC)."""
    try:
        parsed = datetime.fromisoformat(watermark)
    except ValueError:
        raise LakeError(f"stored watermark {watermark!r} is not a timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        since = parsed.astimezone(UTC) - timedelta(seconds=seconds)
    except OverflowError:
        since = datetime.min.replace(tzinfo=UTC)
    return since.isoformat(sep=" ")


def begin(settings: ModelSettings, invocation_id: str, full_refresh: bool) -> Begin:
    """Take the write lock and read the current snapshot. A lake written with another
    partition_by can only be replaced (--full-refresh)."""
    store = open_store(settings.location)
    lock.acquire(store, invocation_id, f"dbt {settings.model}", settings.lock_timeout_seconds)
    crash_point("after_begin")
    snapshot = current_snapshot(store)
    if snapshot is not None and snapshot.partition_by != settings.partition_by and not full_refresh:
        lock.release(store)
        raise LakeError(
            f"incremental_parquet {settings.model}: the lake at {settings.location} is "
            f"partitioned by ({_describe(snapshot.partition_by)}), the model by "
            f"({_describe(settings.partition_by)}); run it once with --full-refresh to rewrite it"
        )
    full = full_refresh or snapshot is None
    since = None
    if not full and snapshot is not None and snapshot.watermark is not None:
        since = subtract_lookback(snapshot.watermark, settings.lookback_seconds)
    return Begin(settings, snapshot, full, since)


def _describe(columns: Iterable[Column]) -> str:
    return ", ".join(f"{c.name} {c.type}" for c in columns)


# -- checks of what SQL computed ------------------------------------------------------------------


def check_delta(settings: ModelSettings, columns: Sequence[str], rows: int, null_keys: int) -> None:
    """The delta has every configured column and no NULL key."""
    required = {
        "partition_by": settings.partition_names,
        "unique_key": list(settings.unique_key),
        "order_by": list(settings.order_by),
        "recompute.column": list(settings.recompute.columns) if settings.recompute else [],
        "record_changes": [c for entry in settings.record_changes for c in entry.columns],
    }
    for setting, names in required.items():
        for name in names:
            if name not in columns:
                raise LakeError(
                    f"incremental_parquet {settings.model}: {setting} column '{name}' is not a "
                    f"column of the model (columns: {', '.join(columns)})"
                )
    if null_keys:
        raise LakeError(
            f"incremental_parquet {settings.model}: {null_keys} of {rows} rows have a NULL "
            f"unique_key ({', '.join(settings.unique_key)}); the unique key must never be NULL"
        )


@dataclass(frozen=True)
class SchemaDecision:
    columns: tuple[Column, ...]
    added: tuple[Column, ...]
    removed: tuple[Column, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": [c.to_json() for c in self.columns],
            "added": [c.to_json() for c in self.added],
            "removed": [c.to_json() for c in self.removed],
        }


def decide_schema(
    settings: ModelSettings, stored: Sequence[Column], new: Sequence[Column], full_refresh: bool
) -> SchemaDecision:
    """The columns the written files get. A full refresh takes the model's; an incremental
    run fails on any difference unless on_schema_change='append_new_columns', which appends
    new columns and keeps removed ones (NULL in new rows); a changed type always fails."""
    if full_refresh or not stored:
        return SchemaDecision(tuple(new), (), ())
    old = {c.name: c for c in stored}
    now = {c.name: c for c in new}
    added = tuple(c for c in new if c.name not in old)
    removed = tuple(c for c in stored if c.name not in now)
    retyped = [
        f"{c.name} {c.type} -> {now[c.name].type}"
        for c in stored
        if c.name in now and now[c.name].type != c.type
    ]
    if retyped or ((added or removed) and settings.on_schema_change == "fail"):
        raise LakeError(
            f"incremental_parquet {settings.model}: the model's columns differ from the lake's "
            f"at {settings.location} (on_schema_change='{settings.on_schema_change}'). New "
            f"columns: [{_describe(added)}]; removed columns: [{_describe(removed)}]; changed "
            f"types: [{', '.join(retyped)}]. Set on_schema_change='append_new_columns' to add "
            "new columns (changed types always need --full-refresh), or run with --full-refresh."
        )
    return SchemaDecision(tuple(new) + removed, added, removed)


# -- plan ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewFile:
    """One file a run writes: the rows of its group at positions `first_position` up to
    `end_position` (excluded; None: to the group's last row) of the group sorted by order_by,
    so the files of a group hold consecutive ranges of that order."""

    relpath: str
    uri: str
    first_position: int
    end_position: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "relpath": self.relpath,
            "uri": self.uri,
            "first_position": self.first_position,
            "end_position": self.end_position,
        }


@dataclass(frozen=True)
class Group:
    """Rows one partition holds after the run that are written together: the rows `retired`
    (a current file, or None) keeps (neither changed nor deleted), the changed rows whose old
    version it held and that stay in its partition (`stays`), and when `inserts` is a number,
    the changed rows new to the partition that SQL numbered so. Written as `files`: one when
    the group's rows fit max_file_rows, else ceil(rows / max_file_rows) files of consecutive
    ranges of the group's rows in order_by order, as even as can be (so none holds more than
    max_file_rows, and the files of a partition hold disjoint ranges of that order);
    `rows` is what they hold together."""

    partition: dict[str, Any]
    retired: str | None
    retired_uri: str | None
    inserts: int | None
    rows: int
    files: tuple[NewFile, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "retired": self.retired,
            "retired_uri": self.retired_uri,
            "inserts": self.inserts,
            "rows": self.rows,
            "files": [f.to_json() for f in self.files],
        }


@dataclass(frozen=True)
class FileWrite:
    partition: dict[str, Any]
    relpath: str
    rows: int


@dataclass(frozen=True)
class Plan:
    version: int
    groups: tuple[Group, ...]
    retired: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "groups": [g.to_json() for g in self.groups],
            "retired": list(self.retired),
        }

    def partition_of(self, relpath: str) -> dict[str, Any]:
        for group in self.groups:
            if any(f.relpath == relpath for f in group.files):
                return group.partition
        raise LakeError(f"{relpath} is not a file of this run's plan")


def _key(partition_by: Sequence[Column], values: Mapping[str, Any]) -> str:
    return partition_folder(tuple(partition_by), dict(values))


@dataclass
class _Draft:
    partition: dict[str, Any]
    retired: DataFile | None
    rows: int
    inserts: int | None = None


def plan(
    settings: ModelSettings,
    snapshot: Snapshot | None,
    full_refresh: bool,
    touched: Sequence[Mapping[str, Any]],
    inserts: Sequence[Mapping[str, Any]],
) -> Plan:
    """The files of the next snapshot. `touched` (incremental runs): each current file holding
    a changed or deleted row, as `{'uri', 'removed': its rows changed or deleted, 'stays': the
    changed rows whose old version it held that stay in its partition}`; `inserts`: each
    partition receiving changed rows no file of it held (every row, in a full refresh), as
    `{'values': {column: value}, 'rows', 'number'}`. Each touched file is rewritten without its
    removed rows and with its staying ones; a partition's inserts join the smallest file of it
    with room for them (rewritten too) or start a new file. Untouched files are kept byte for
    byte; a full refresh retires every current file."""
    version = 1 if snapshot is None else snapshot.version + 1
    store = open_store(settings.location)
    limit = settings.max_file_rows
    current = [] if snapshot is None or full_refresh else list(snapshot.files)
    by_uri = {_file_uri(settings, f.path): f for f in current}
    drafts: list[_Draft] = []
    for entry in touched:
        uri = str(entry["uri"])
        file = by_uri.get(uri)
        if file is None:
            raise LakeError(f"incremental_parquet {settings.model}: {uri} is not a current file")
        rows = file.rows - int(entry["removed"]) + int(entry["stays"])
        drafts.append(_Draft(dict(file.partition), file, rows))
    for entry in inserts:
        values = {c.name: (entry.get("values") or {}).get(c.name) for c in settings.partition_by}
        folder = _key(settings.partition_by, values)
        count = int(entry["rows"])
        rewritten = [
            d for d in drafts if d.retired and _key(settings.partition_by, d.partition) == folder
        ]
        untouched = [
            f
            for f in current
            if _key(settings.partition_by, f.partition) == folder
            and all(d.retired is not f for d in rewritten)
        ]
        options = [(d.rows, d) for d in rewritten] + [(f.rows, f) for f in untouched]
        fitting = [(rows, o) for rows, o in options if rows + count <= limit]
        if fitting:
            chosen = min(fitting, key=lambda option: option[0])[1]
            if isinstance(chosen, _Draft):
                draft = chosen
            else:
                draft = _Draft(dict(chosen.partition), chosen, chosen.rows)
                drafts.append(draft)
        else:
            draft = _Draft(values, None, 0)
            drafts.append(draft)
        draft.rows += count
        draft.inserts = int(entry["number"])
    token = uuid.uuid4().hex[:12]
    groups: list[Group] = []
    numbered = 0
    for draft in drafts:
        folder = _key(settings.partition_by, draft.partition)
        parts = 0 if draft.rows <= 0 else -(-draft.rows // limit)
        files = []
        for part in range(parts):
            relpath = f"{folder}/v{version:06d}-{token}-{numbered}.parquet"
            numbered += 1
            store.prepare(relpath)
            # the last part takes every row past its first: were the group to hold more rows
            # than planned, the write's count check sees them instead of leaving them out
            end = None if part == parts - 1 else (part + 1) * draft.rows // parts
            files.append(NewFile(relpath, store.uri(relpath), part * draft.rows // parts, end))
        groups.append(
            Group(
                draft.partition,
                None if draft.retired is None else draft.retired.path,
                None if draft.retired is None else store.uri(draft.retired.path),
                draft.inserts,
                max(draft.rows, 0),
                tuple(files),
            )
        )
    if full_refresh:
        retired = [f.path for f in (snapshot.files if snapshot else ())]
    else:
        retired = [g.retired for g in groups if g.retired is not None]
    return Plan(version, tuple(groups), tuple(retired))


def file_write(the_plan: Plan, relpath: str, rows: int) -> FileWrite:
    """A data file DuckDB wrote for the plan, with the rows its COPY reported. The commit
    verifies and flushes it (`_verify`)."""
    return FileWrite(the_plan.partition_of(relpath), relpath, rows)


def first_written(settings: ModelSettings, the_plan: Plan, relpath: str, rows: int) -> FileWrite:
    """The run's first data file, reported as soon as DuckDB wrote it (the others are reported
    with the commit, which costs a dbt statement less per file): flushed to disk, and the crash
    point during_write."""
    write = file_write(the_plan, relpath, rows)
    open_store(settings.location).make_durable(relpath)
    crash_point("during_write")
    return write


# -- commit --------------------------------------------------------------------------------------


def _verify(store: Store, write: FileWrite) -> DataFile:
    """The written file is complete Parquet holding the planned rows."""
    try:
        metadata = store.parquet_metadata(write.relpath)
    except (OSError, ValueError, LakeError) as exc:
        raise LakeError(
            f"written file {store.uri(write.relpath)} is not readable Parquet ({exc}); "
            "nothing was committed"
        ) from None
    if metadata.num_rows != write.rows:
        raise LakeError(
            f"written file {store.uri(write.relpath)} holds {metadata.num_rows} rows, "
            f"{write.rows} were planned; nothing was committed"
        )
    size = store.make_durable(write.relpath)
    return DataFile(write.relpath, dict(write.partition), write.rows, size, schema_digest(metadata))


def schema_digest(metadata: pq.FileMetaData) -> str:
    """A digest of a Parquet file's schema: each leaf column's path, physical type and logical
    type, in order. Two files with the same digest are read alike by every engine."""
    schema = metadata.schema
    columns = [schema.column(i) for i in range(len(schema))]
    text = "\n".join(
        f"{c.path}|{c.physical_type}|{c.logical_type}|{c.max_definition_level}|"
        f"{c.max_repetition_level}"
        for c in columns
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def commit(
    settings: ModelSettings,
    snapshot: Snapshot | None,
    the_plan: Plan,
    writes: Sequence[FileWrite],
    columns: Sequence[Column],
    watermark: str | None,
    upstream: Mapping[str, int],
    changes: Mapping[str, list[Any]],
    run: Mapping[str, Any],
    now: datetime | None = None,
    changed_columns: Mapping[str, list[dict[str, Any]]] | None = None,
) -> Snapshot:
    """Publish the next snapshot (the commit), then vacuum and release the lock."""
    started = time.perf_counter()
    store = open_store(settings.location)
    expected = 1 if snapshot is None else snapshot.version + 1
    if the_plan.version != expected:
        raise LakeError(f"plan for version {the_plan.version}, but the next is {expected}")
    repeated = sorted(p for p, n in Counter(w.relpath for w in writes).items() if n > 1)
    if repeated:
        raise LakeError(
            f"written files reported more than once: {', '.join(repeated)}; nothing was committed"
        )
    new_files = [_verify(store, w) for w in writes]
    retired = set(the_plan.retired)
    kept = [] if snapshot is None else [f for f in snapshot.files if f.path not in retired]
    if snapshot is not None and tuple(columns) != snapshot.columns:
        # the files kept across a change of the mart's columns hold the old ones: their schema
        # no longer says they read like the new snapshot's files (readers unify them by name)
        kept = [replace(f, schema=None) for f in kept]
    files = sorted([*kept, *new_files], key=lambda f: f.path)
    if watermark is None and snapshot is not None:
        watermark = snapshot.watermark
    nxt = Snapshot(
        version=the_plan.version,
        committed_at=now or datetime.now(UTC),
        model=settings.model,
        columns=tuple(columns),
        partition_by=settings.partition_by,
        unique_key=settings.unique_key,
        files=tuple(files),
        watermark=watermark,
        upstream=dict(upstream),
        changes={k: list(v) for k, v in changes.items()},
        changed_columns={k: list(v) for k, v in (changed_columns or {}).items()},
        # the commit's own cost: verifying and flushing the new files (the publish is one
        # small file more)
        run={**run, "commit_seconds": round(time.perf_counter() - started, 4)},
    )
    crash_point("before_publish")
    delay = os.environ.get("CHRONO_LAKE_COMMIT_DELAY_MS")
    if delay:
        time.sleep(float(delay) / 1000)
    if is_remote(store.location):
        # another machine may take over a lock whose session ended (lock.py): make sure it
        # is still ours right before the publish
        lock.check_held(store)
    if not store.put_new(snapshot_path(nxt.version), nxt.to_json()):
        raise LakeError(
            f"snapshot {nxt.version} of {settings.location} was published by another writer "
            "meanwhile; nothing was committed, run again"
        )
    crash_point("after_publish")
    vacuum(store, settings.retention_seconds, settings.history_snapshots)
    lock.release(store)
    return nxt


def abort(settings: ModelSettings) -> None:
    """Release the lock without committing (the files written are orphans for vacuum)."""
    lock.release(open_store(settings.location))


# -- vacuum --------------------------------------------------------------------------------------


@dataclass
class VacuumReport:
    files_deleted: int = 0
    bytes_deleted: int = 0
    snapshots_deleted: int = 0
    files_kept_for_readers: int = 0
    bytes_kept_for_readers: int = 0


def vacuum(
    store: Store,
    retention_seconds: float,
    history_snapshots: int,
    now: float | None = None,
) -> VacuumReport:
    """Delete what no reader can still need. A reader may be reading any snapshot that was
    current less than `retention_seconds` ago; the files those snapshots name are kept, every
    other data file older than `retention_seconds` (superseded files, orphans of crashed runs)
    is deleted. Snapshot manifests are kept longer, for the change feed: the latest
    `history_snapshots` of them. The caller holds the write lock.

    Only the snapshots a reader may still be reading are read, newest first: a snapshot
    stopped being current when its successor was committed, so the walk ends at the first one
    whose successor was committed `retention_seconds` ago or more (every older snapshot was
    superseded earlier still; versions are committed in order). A sync commits every mart on
    every cycle, and a snapshot holds its change feed (megabytes after a large change), so
    reading all `history_snapshots` of them made each commit's cost grow with the history."""
    clock = time.time() if now is None else now
    report = VacuumReport()
    versions = list_versions(store)
    if not versions:
        return report
    needed: set[str] = set()
    # when the snapshot after the one at hand was committed; None: it is the latest, or the
    # one after it could not be read (then it counts as current until now, to be safe)
    successor_committed: float | None = None
    for index, version in enumerate(reversed(versions)):
        current_until = clock if successor_committed is None else successor_committed
        superseded_long_ago = index > 0 and clock - current_until >= retention_seconds
        if superseded_long_ago and successor_committed is not None:
            break
        snap = read_snapshot(store, version)
        if snap is None:
            successor_committed = None
            continue
        if not superseded_long_ago:  # the latest is always kept
            needed.update(snap.file_paths())
        successor_committed = snap.committed_at.timestamp()
    first = True
    for info in store.list_files():
        if info.relpath.startswith("_chrono/") or not info.relpath.endswith(".parquet"):
            continue
        if info.relpath in needed:
            continue
        if clock - info.mtime < retention_seconds:
            report.files_kept_for_readers += 1
            report.bytes_kept_for_readers += info.size
            continue
        store.delete(info.relpath)
        report.files_deleted += 1
        report.bytes_deleted += info.size
        if first:
            first = False
            crash_point("during_vacuum")
    for version in versions[: max(0, len(versions) - history_snapshots)]:
        store.delete(snapshot_path(version))
        report.snapshots_deleted += 1
    for info in store.list_files("_chrono"):
        name = info.relpath.rsplit("/", 1)[-1]
        # temporary files of a crashed publish, and the schema templates of earlier runs
        # (incremental_parquet.sql step 6; the caller's own run is done with its template)
        leftover = name.startswith(".tmp-") or (
            name.startswith("template-") and name.endswith(".parquet")
        )
        if leftover and clock - info.mtime > 60:
            store.delete(info.relpath)
    return report


def superseded_bytes(store: Store) -> int:
    """Bytes of data files the current snapshot does not name (kept for readers or orphans)."""
    snapshot = current_snapshot(store)
    live = set(snapshot.file_paths()) if snapshot else set()
    return sum(
        info.size
        for info in store.list_files()
        if info.relpath.endswith(".parquet")
        and not info.relpath.startswith("_chrono/")
        and info.relpath not in live
    )


# -- the change feed -----------------------------------------------------------------------------


def changes_since(
    store: Store,
    column: str,
    after_version: int | None,
    upto_version: int | None = None,
    columns_read: Collection[str] | None = None,
    reader: str = "a model",
) -> tuple[int, list[Any] | None]:
    """The values of `column` (a record_changes entry) that a model's commits after
    `after_version` (up to `upto_version`, default the current one) changed, and that last
    version; None when some of those commits are no longer in the history or did not record
    `column` (a full refresh changes everything): the caller then recomputes everything.
    With `columns_read` (the columns the caller reads), only the values of rows inserted, deleted
    or changed in one of those columns or the entry's own count; a name the model has no
    column of fails (a misspelt column would leave its changes unseen)."""
    snapshot = current_snapshot(store)
    if snapshot is None:
        return 0, None
    unknown = sorted(set(columns_read or ()) - {c.name for c in snapshot.columns})
    if unknown:
        raise LakeError(
            f"{reader}'s recompute.upstream_columns names {', '.join(unknown)}, which "
            f"{snapshot.model} has no column of"
        )
    last = snapshot.version if upto_version is None else min(upto_version, snapshot.version)
    if after_version is None or after_version > last:
        return last, None
    values: list[Any] = []
    seen: set[str] = set()
    for version in range(after_version + 1, last + 1):
        snap = read_snapshot(store, version)
        if snap is None or column not in snap.changes:
            return snapshot.version, None
        for value in _values_read(snap, column, columns_read):
            marker = repr(value)
            if marker not in seen:
                seen.add(marker)
                values.append(value)
    return last, values


def _values_read(snap: Snapshot, column: str, columns_read: Collection[str] | None) -> list[Any]:
    """The values of a commit's change feed entry `column` that a reader of the columns
    `columns_read` needs (all of them when it reads every column, or the commit did not record
    which columns changed)."""
    values = snap.changes[column]
    if columns_read is None or column not in snap.changed_columns:
        return values
    relevant = {"*", *columns_read, *column.split("+")}
    positions: set[int] = set()
    for group in snap.changed_columns[column]:
        if relevant.intersection(group["columns"]):
            positions.update(group["values"])
    return [values[position] for position in sorted(positions)]


# -- revert --------------------------------------------------------------------------------------


def revert(store: Store, to_version: int, reason: str, timeout: float = 60.0) -> Snapshot:
    """Publish a new snapshot holding what snapshot `to_version` held (files, columns,
    watermark): readers see that state again, and the next run starts from its watermark,
    so it reads the reverted changes again. The files must still exist (a snapshot that was
    current within the retention time). The change feed of the new snapshot records nothing,
    so downstream models recompute everything once."""
    lock.acquire(store, f"revert-{to_version}-{uuid.uuid4().hex[:8]}", "revert", timeout)
    try:
        current = current_snapshot(store)
        target = read_snapshot(store, to_version)
        if current is None or target is None:
            raise LakeError(f"{store.location} has no snapshot {to_version} to go back to")
        missing = [f.path for f in target.files if not store.exists(f.path)]
        if missing:
            raise LakeError(
                f"snapshot {to_version} of {store.location} lost {len(missing)} files to the "
                "vacuum; it cannot be restored (rebuild the mart instead)"
            )
        restored = Snapshot(
            version=current.version + 1,
            committed_at=datetime.now(UTC),
            model=target.model,
            columns=target.columns,
            partition_by=target.partition_by,
            unique_key=target.unique_key,
            files=target.files,
            watermark=target.watermark,
            upstream=dict(target.upstream),
            changes={},
            run={"mode": "revert", "reverted_to": to_version, "reason": reason},
        )
        if not store.put_new(snapshot_path(restored.version), restored.to_json()):
            raise LakeError(f"another writer committed {store.location} meanwhile; not reverted")
        return restored
    finally:
        lock.release(store)
