"""The channel between the ``incremental_parquet`` materialization and Python.

The project's dbt plugin registers the DuckDB function ``chrono_lake(request varchar) ->
varchar`` on every connection dbt opens. The materialization calls it with a JSON request
(``{"op": ..., ...}``) and gets a JSON answer back: ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": "<message for the user>"}`` (the materialization raises it). So
Jinja sends what SQL computed and receives decisions, with no log parsing and no state
hidden in the database.

A run's state (settings, the snapshot it started from, the plan) is kept here between the
operations of one model, keyed by its location; the write lock makes that location this
process's alone until ``commit`` or ``abort``.
"""

from __future__ import annotations

import contextlib
import json
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chrono_analytics.lake import lock, writer
from chrono_analytics.lake.settings import ModelSettings, resolve
from chrono_analytics.lake.snapshot import Column, LakeError, Snapshot, current_snapshot
from chrono_analytics.lake.store import open_store


@dataclass
class _Run:
    settings: ModelSettings
    start: writer.Begin
    columns: tuple[Column, ...] = ()
    plan: writer.Plan | None = None
    writes: list[writer.FileWrite] = field(default_factory=list)


_RUNS: dict[str, _Run] = {}


def _settings(request: Mapping[str, Any]) -> ModelSettings:
    return resolve(
        request.get("config") or {}, str(request["model"]), str(request["external_root"])
    )


def _run(request: Mapping[str, Any]) -> _Run:
    location = _settings(request).location
    run = _RUNS.get(location)
    if run is None:
        raise LakeError(f"no incremental_parquet run of {location} is in progress in this process")
    return run


def _columns(raw: Any) -> tuple[Column, ...]:
    return tuple(Column(str(c["name"]), str(c["type"])) for c in raw)


def _snapshot_summary(snapshot: Snapshot | None) -> dict[str, Any] | None:
    if snapshot is None:
        return None
    return {
        "version": snapshot.version,
        "rows": snapshot.rows,
        "files": [f.path for f in snapshot.files],
        "columns": [c.to_json() for c in snapshot.columns],
        "partition_by": [c.to_json() for c in snapshot.partition_by],
        "watermark": snapshot.watermark,
        "committed_at": snapshot.committed_at.isoformat(),
        "uniform_schema": snapshot.uniform_schema,
    }


# -- operations ----------------------------------------------------------------------------------


def op_begin(request: Mapping[str, Any]) -> Any:
    settings = _settings(request)
    start = writer.begin(settings, str(request["invocation_id"]), bool(request["full_refresh"]))
    _RUNS[settings.location] = _Run(settings, start)
    return start.to_json()


def op_check(request: Mapping[str, Any]) -> Any:
    run = _run(request)
    writer.check_delta(
        run.settings, list(request["columns"]), int(request["rows"]), int(request["null_keys"])
    )
    return None


def op_schema(request: Mapping[str, Any]) -> Any:
    run = _run(request)
    stored = run.start.snapshot.columns if run.start.snapshot else ()
    decision = writer.decide_schema(
        run.settings, stored, _columns(request["columns"]), run.start.full_refresh
    )
    run.columns = decision.columns
    return decision.to_json()


def _json_list(request: Mapping[str, Any], name: str) -> list[Any]:
    """A list of the request: a JSON list SQL built (to_json) or a list."""
    raw = request.get(name)
    return (json.loads(raw) if isinstance(raw, str) else raw) or []


def op_plan(request: Mapping[str, Any]) -> Any:
    run = _run(request)
    run.plan = writer.plan(
        run.settings,
        run.start.snapshot,
        run.start.full_refresh,
        _json_list(request, "touched"),
        _json_list(request, "inserts"),
    )
    return run.plan.to_json()


def op_written(request: Mapping[str, Any]) -> Any:
    run = _run(request)
    if run.plan is None:
        raise LakeError("a file was written before the run was planned")
    if run.writes:
        raise LakeError(
            "only a run's first file is reported as written; the others come with the commit"
        )
    run.writes.append(
        writer.first_written(run.settings, run.plan, str(request["relpath"]), int(request["rows"]))
    )
    return None


def op_commit(request: Mapping[str, Any]) -> Any:
    run = _run(request)
    if run.plan is None:
        run.plan = writer.plan(run.settings, run.start.snapshot, run.start.full_refresh, [], [])
    columns = run.columns or (run.start.snapshot.columns if run.start.snapshot else ())
    # every file the run wrote, {relpath, rows}; the first was reported as it landed
    reported = {write.relpath for write in run.writes}
    for entry in _json_list(request, "written"):
        if entry["relpath"] not in reported:
            run.writes.append(
                writer.file_write(run.plan, str(entry["relpath"]), int(entry["rows"]))
            )
    # each record_changes entry: a JSON list of values, or a JSON object {'values': [...],
    # 'changed_columns': [{'columns': [...], 'values': [positions]}]}
    changes: dict[str, list[Any]] = {}
    changed_columns: dict[str, list[dict[str, Any]]] = {}
    for key, raw in (request.get("changes") or {}).items():
        entry = json.loads(raw) if isinstance(raw, str) else raw
        if isinstance(entry, Mapping):
            changes[str(key)] = list(entry["values"])
            changed_columns[str(key)] = list(entry["changed_columns"])
        else:
            changes[str(key)] = list(entry or [])
    snapshot = writer.commit(
        run.settings,
        run.start.snapshot,
        run.plan,
        run.writes,
        columns,
        request.get("watermark"),
        {str(k): int(v) for k, v in (request.get("upstream") or {}).items()},
        changes,
        dict(request.get("run") or {}),
        changed_columns=changed_columns,
    )
    _RUNS.pop(run.settings.location, None)
    summary = _snapshot_summary(snapshot)
    assert summary is not None
    summary["file_uris"] = [open_store(run.settings.location).uri(p) for p in summary["files"]]
    return summary


def op_abort(request: Mapping[str, Any]) -> Any:
    settings = _settings(request)
    _RUNS.pop(settings.location, None)
    writer.abort(settings)
    return None


def op_snapshot(request: Mapping[str, Any]) -> Any:
    """Read-only: the current snapshot of a model (no lock)."""
    settings = _settings(request)
    store = open_store(settings.location)
    summary = _snapshot_summary(current_snapshot(store))
    if summary is not None:
        summary["file_uris"] = [store.uri(p) for p in summary["files"]]
        summary["partition_matches"] = summary["partition_by"] == [
            c.to_json() for c in settings.partition_by
        ]
    return summary


def op_changes_since(request: Mapping[str, Any]) -> Any:
    """Read-only: the change feed of a model (see writer.changes_since)."""
    settings = _settings(request)
    after = request.get("after_version")
    upto = request.get("upto_version")
    columns_read = request.get("columns_read")
    version, values = writer.changes_since(
        open_store(settings.location),
        str(request["column"]),
        None if after is None else int(after),
        None if upto is None else int(upto),
        None if columns_read is None else [str(name) for name in columns_read],
        str(request.get("reader") or "a model"),
    )
    return {"version": version, "values": values}


def op_release_all(request: Mapping[str, Any]) -> Any:
    _RUNS.clear()
    return lock.release_all()


OPERATIONS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "begin": op_begin,
    "check": op_check,
    "schema": op_schema,
    "plan": op_plan,
    "written": op_written,
    "commit": op_commit,
    "abort": op_abort,
    "snapshot": op_snapshot,
    "changes_since": op_changes_since,
    "release_all": op_release_all,
}
_RUN_OPERATIONS = {"check", "schema", "plan", "written", "commit"}


def handle(request_json: str) -> str:
    """Answer one request (the body of the ``chrono_lake`` DuckDB function)."""
    request: dict[str, Any] = {}
    try:
        request = json.loads(request_json)
        operation = OPERATIONS.get(str(request.get("op")))
        if operation is None:
            raise LakeError(f"unknown lake operation {request.get('op')!r}")
        return json.dumps({"ok": True, "result": operation(request)}, default=str)
    except LakeError as exc:
        _abort_after_failure(request)
        return json.dumps({"ok": False, "error": str(exc)})
    except Exception as exc:  # a bug: say where, and leave the lake as it is
        _abort_after_failure(request)
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return json.dumps({"ok": False, "error": f"internal error in chrono_lake: {detail}"})


def _abort_after_failure(request: Mapping[str, Any]) -> None:
    """A failed step of a run releases its lock (its written files are orphans)."""
    if request.get("op") not in _RUN_OPERATIONS:
        return
    with contextlib.suppress(Exception):  # the original error is what the user needs
        op_abort(request)
