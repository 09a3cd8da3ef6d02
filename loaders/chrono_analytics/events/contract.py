"""The ``events`` contract: one Arrow schema, the validation rules and the event id.

Everything that decides what an event is lives in this module; the writer, the CLI, the
compaction and the tests import it from here.

Decisions (each one is pinned by a test in ``loaders/tests/test_events_contract.py``):

- **Event types** form a closed set: ``pipeline_stage``, ``user_interaction``,
  ``system_metric``, ``performance``, ``error``. Any other value is rejected, so the
  mart's ``accepted_values`` test can be strict; a new type is one line in
  ``EVENT_TYPES`` plus the mart's test. ``event_subtype`` is free text (at most 255
  characters) for finer kinds.
- **Severities**: ``debug``, ``info``, ``warning``, ``error``, ``critical``, lower-case
  only (no case folding: the seed's upper-case comparisons were a defect). When absent,
  the severity is ``error`` for ``error`` events and ``info`` for every other type.
- **Per-type requirements**: ``pipeline_stage`` needs ``pipeline_stage`` and
  ``pipeline_status``; ``user_interaction`` needs ``user_action``; ``system_metric``
  needs at least one of ``memory_usage_mb``, ``cpu_usage_percent``, ``duration_ms``;
  ``performance`` needs ``duration_ms``; ``error`` needs severity ``error`` or
  ``critical``.
- **Always required**: ``event_type``, ``event_timestamp`` (the typed ``Event`` API fills
  it with the current time when omitted; a record from a file must carry it) and
  ``source_component`` (a writer may supply a default).
- **Timestamps** are UTC. A naive ``datetime`` (no ``tzinfo``) and an ISO-8601 string
  without an offset are **rejected**, never guessed: the seed stamped events with the
  server's local clock. Aware values in any zone are converted to UTC. Digits beyond
  microseconds are truncated. Accepted range: 2000-01-01 to 2099-12-31 (UTC), so a
  bad clock cannot create partitions in year 9999.
- **event_date / event_hour** are derived from ``event_timestamp`` (UTC). A record may
  carry them; they must then agree with the timestamp.
- **event_data** is a JSON object (a ``dict``, or a string holding a JSON object),
  stored as canonical JSON text (sorted keys, no spaces, UTF-8, NaN/Infinity refused) of
  at most ``MAX_EVENT_DATA_BYTES`` (64 KiB) bytes. The Parquet column carries Arrow's
  JSON extension type, which DuckDB reads as ``JSON``.
- **Strings**: at most 255 characters (``event_message``: 8,192), valid Unicode (no lone
  surrogates). **Integers** (ids, counts): Python ``int`` (``bool`` and ``"12"`` are
  refused), ids >= 1, counts >= 0, within int64. **Measures** (``duration_ms``,
  ``memory_usage_mb``, ``cpu_usage_percent``): finite numbers >= 0.
- **Unknown fields** are rejected (a typo must not silently drop data).
- **event_id**: the caller's id when given (1-128 characters of ``A-Z a-z 0-9 . _ : -``),
  otherwise a deterministic UUID (version 5, SHA-1) of the canonical content: the JSON
  array of every contract column except ``event_id``, ``event_date``, ``event_hour`` and
  ``created_at``, in contract order, timestamps as integer microseconds, measures as
  floats. The same content gives the same id in every process and on every machine
  (never Python's ``hash()``), so replaying a spool or re-ingesting a file yields the same
  ids and readers deduplicate by ``event_id``. Two events identical in every column,
  timestamp included to the microsecond, are by definition one event; the writer makes
  the timestamps it fills in itself strictly increasing to keep distinct captures apart.
- **created_at** is the time the library accepted the event (a record may carry its
  own, e.g. when re-ingesting an export).

Files: hive layout ``event_date=YYYY-MM-DD/event_hour=H`` with the hour **not** zero-padded
(``event_hour=7``), the form DuckDB's own ``PARTITION_BY`` writes and one that DuckDB's
type detection reads as an integer (``07`` would stay a string). The partition columns are
**not stored inside the files** (as with DuckDB's default ``COPY ... PARTITION_BY``): the
folder names are their only source, so a file can never contradict its folder. Read with
``read_sql()`` below (hive_partitioning + pinned hive_types).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal, TypedDict, Unpack, cast

import pyarrow as pa

EventType = Literal["pipeline_stage", "user_interaction", "system_metric", "performance", "error"]
Severity = Literal["debug", "info", "warning", "error", "critical"]

EVENT_TYPES: Final[tuple[str, ...]] = (
    "pipeline_stage",
    "user_interaction",
    "system_metric",
    "performance",
    "error",
)
SEVERITIES: Final[tuple[str, ...]] = ("debug", "info", "warning", "error", "critical")

MAX_EVENT_DATA_BYTES: Final = 64 * 1024
MAX_SHORT_TEXT: Final = 255
MAX_MESSAGE_TEXT: Final = 8192
MAX_EVENT_ID: Final = 128
INT64_MAX: Final = 2**63 - 1

PARTITION_COLUMNS: Final[tuple[str, str]] = ("event_date", "event_hour")

# The one Arrow schema of the contract, in contract order (SOURCE.md, `events`).
EVENT_SCHEMA: Final[pa.Schema] = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("event_subtype", pa.string()),
        pa.field("event_timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("event_date", pa.date32(), nullable=False),
        pa.field("event_hour", pa.int32(), nullable=False),
        pa.field("user_id", pa.int64()),
        pa.field("project_id", pa.int64()),
        pa.field("domain_id", pa.int64()),
        pa.field("scrape_session_id", pa.int64()),
        pa.field("scrape_page_id", pa.int64()),
        pa.field("source_component", pa.string(), nullable=False),
        pa.field("source_module", pa.string()),
        pa.field("environment", pa.string()),
        pa.field("event_data", pa.json_()),
        pa.field("event_message", pa.string()),
        pa.field("event_severity", pa.string(), nullable=False),
        pa.field("event_status", pa.string()),
        pa.field("duration_ms", pa.float64()),
        pa.field("memory_usage_mb", pa.float64()),
        pa.field("cpu_usage_percent", pa.float64()),
        pa.field("error_code", pa.string()),
        pa.field("error_category", pa.string()),
        pa.field("user_action", pa.string()),
        pa.field("pipeline_stage", pa.string()),
        pa.field("pipeline_status", pa.string()),
        pa.field("items_processed", pa.int64()),
        pa.field("success_count", pa.int64()),
        pa.field("failure_count", pa.int64()),
        pa.field("correlation_id", pa.string()),
        pa.field("trace_id", pa.string()),
        pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

# What a Parquet file holds: the contract minus the partition columns (they live in the path).
FILE_SCHEMA: Final[pa.Schema] = pa.schema(
    [f for f in EVENT_SCHEMA if f.name not in PARTITION_COLUMNS]
)
FILE_COLUMNS: Final[tuple[str, ...]] = tuple(FILE_SCHEMA.names)
# The columns hashed into the deterministic event id (FILE_COLUMNS[1:-1]).
CONTENT_COLUMNS: Final[tuple[str, ...]] = FILE_COLUMNS[1:-1]
TS_INDEX: Final = FILE_COLUMNS.index("event_timestamp")

EVENT_ID_NAMESPACE: Final = uuid.UUID("6f1c1f0e-3c55-5b0e-9a43-2f8d3c1e7a10")

US_PER_SECOND: Final = 1_000_000
US_PER_HOUR: Final = 3600 * US_PER_SECOND
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_TIMESTAMP: Final = datetime(2000, 1, 1, tzinfo=UTC)
MAX_TIMESTAMP: Final = datetime(2100, 1, 1, tzinfo=UTC)  # exclusive
_MIN_US = (MIN_TIMESTAMP - _EPOCH) // timedelta(microseconds=1)
_MAX_US = (MAX_TIMESTAMP - _EPOCH) // timedelta(microseconds=1)

# Encoders made once (json.dumps with options builds a new encoder at every call).
CANONICAL_JSON: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
COMPACT_JSON: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

_EVENT_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# A validated event: the values of FILE_COLUMNS in order; timestamps as int microseconds
# since the Unix epoch (UTC), event_data as canonical JSON text.
Row = tuple[Any, ...]


class EventValidationError(ValueError):
    """An event breaks the contract; ``field`` names the column, ``problem`` says how."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def default_events_root() -> Path:
    """``$CHRONO_EVENTS_ROOT``, else ``<$CHRONO_LAKE_ROOT or 'lake'>/raw/events`` (read now)."""
    explicit = os.environ.get("CHRONO_EVENTS_ROOT")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("CHRONO_LAKE_ROOT") or "lake") / "raw" / "events"


# ---------------------------------------------------------------------------------------
# The typed API: Event and its factories
# ---------------------------------------------------------------------------------------


class EventContext(TypedDict, total=False):
    """Columns any kind of event may carry (keyword arguments of the ``Event`` factories)."""

    event_id: str
    event_subtype: str
    event_timestamp: datetime
    user_id: int
    project_id: int
    domain_id: int
    scrape_session_id: int
    scrape_page_id: int
    source_component: str
    source_module: str
    environment: str
    event_data: Mapping[str, Any] | str
    event_message: str
    event_status: str
    correlation_id: str
    trace_id: str
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class Event:
    """One event of the contract. Only ``event_type`` is mandatory here; the writer fills
    ``event_timestamp`` (now, UTC), ``source_component``/``source_module``/``environment``
    (its defaults) and ``created_at``, then validates. Prefer the factories below."""

    event_type: EventType
    event_id: str | None = None
    event_subtype: str | None = None
    event_timestamp: datetime | None = None
    user_id: int | None = None
    project_id: int | None = None
    domain_id: int | None = None
    scrape_session_id: int | None = None
    scrape_page_id: int | None = None
    source_component: str | None = None
    source_module: str | None = None
    environment: str | None = None
    event_data: Mapping[str, Any] | str | None = None
    event_message: str | None = None
    event_severity: Severity | None = None
    event_status: str | None = None
    duration_ms: float | None = None
    memory_usage_mb: float | None = None
    cpu_usage_percent: float | None = None
    error_code: str | None = None
    error_category: str | None = None
    user_action: str | None = None
    pipeline_stage: str | None = None
    pipeline_status: str | None = None
    items_processed: int | None = None
    success_count: int | None = None
    failure_count: int | None = None
    correlation_id: str | None = None
    trace_id: str | None = None
    created_at: datetime | None = None

    @classmethod
    def pipeline_stage_event(
        cls,
        stage: str,
        status: str,
        *,
        duration_ms: float | None = None,
        items_processed: int | None = None,
        success_count: int | None = None,
        failure_count: int | None = None,
        memory_usage_mb: float | None = None,
        cpu_usage_percent: float | None = None,
        error_code: str | None = None,
        error_category: str | None = None,
        severity: Severity | None = None,
        **context: Unpack[EventContext],
    ) -> Event:
        """A stage of the scraping pipeline (fetch, content_extraction, ...) and its status."""
        return cls(
            event_type="pipeline_stage",
            pipeline_stage=stage,
            pipeline_status=status,
            duration_ms=duration_ms,
            items_processed=items_processed,
            success_count=success_count,
            failure_count=failure_count,
            memory_usage_mb=memory_usage_mb,
            cpu_usage_percent=cpu_usage_percent,
            error_code=error_code,
            error_category=error_category,
            event_severity=severity,
            **context,
        )

    @classmethod
    def user_interaction(
        cls,
        action: str,
        *,
        duration_ms: float | None = None,
        severity: Severity | None = None,
        **context: Unpack[EventContext],
    ) -> Event:
        """Something a user did (``user_id`` in the context when known)."""
        return cls(
            event_type="user_interaction",
            user_action=action,
            duration_ms=duration_ms,
            event_severity=severity,
            **context,
        )

    @classmethod
    def system_metric(
        cls,
        *,
        memory_usage_mb: float | None = None,
        cpu_usage_percent: float | None = None,
        duration_ms: float | None = None,
        items_processed: int | None = None,
        severity: Severity | None = None,
        **context: Unpack[EventContext],
    ) -> Event:
        """A resource sample of a component (at least one of the three measures)."""
        return cls(
            event_type="system_metric",
            memory_usage_mb=memory_usage_mb,
            cpu_usage_percent=cpu_usage_percent,
            duration_ms=duration_ms,
            items_processed=items_processed,
            event_severity=severity,
            **context,
        )

    @classmethod
    def performance(
        cls,
        duration_ms: float,
        *,
        memory_usage_mb: float | None = None,
        cpu_usage_percent: float | None = None,
        items_processed: int | None = None,
        severity: Severity | None = None,
        **context: Unpack[EventContext],
    ) -> Event:
        """A timed operation (request, query, job)."""
        return cls(
            event_type="performance",
            duration_ms=duration_ms,
            memory_usage_mb=memory_usage_mb,
            cpu_usage_percent=cpu_usage_percent,
            items_processed=items_processed,
            event_severity=severity,
            **context,
        )

    @classmethod
    def error(
        cls,
        *,
        error_code: str | None = None,
        error_category: str | None = None,
        pipeline_stage: str | None = None,
        duration_ms: float | None = None,
        severity: Severity = "error",
        **context: Unpack[EventContext],
    ) -> Event:
        """A failure worth counting (severity ``error`` or ``critical``)."""
        return cls(
            event_type="error",
            error_code=error_code,
            error_category=error_category,
            pipeline_stage=pipeline_stage,
            duration_ms=duration_ms,
            event_severity=severity,
            **context,
        )


# ---------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------

_ENUM, _TEXT, _MESSAGE, _ID, _COUNT, _MEASURE, _TIMESTAMP, _JSON = range(8)

_KINDS: Final[dict[str, int]] = {
    "event_type": _ENUM,
    "event_subtype": _TEXT,
    "event_timestamp": _TIMESTAMP,
    "user_id": _ID,
    "project_id": _ID,
    "domain_id": _ID,
    "scrape_session_id": _ID,
    "scrape_page_id": _ID,
    "source_component": _TEXT,
    "source_module": _TEXT,
    "environment": _TEXT,
    "event_data": _JSON,
    "event_message": _MESSAGE,
    "event_severity": _ENUM,
    "event_status": _TEXT,
    "duration_ms": _MEASURE,
    "memory_usage_mb": _MEASURE,
    "cpu_usage_percent": _MEASURE,
    "error_code": _TEXT,
    "error_category": _TEXT,
    "user_action": _TEXT,
    "pipeline_stage": _TEXT,
    "pipeline_status": _TEXT,
    "items_processed": _COUNT,
    "success_count": _COUNT,
    "failure_count": _COUNT,
    "correlation_id": _TEXT,
    "trace_id": _TEXT,
}
if tuple(_KINDS) != CONTENT_COLUMNS:  # the contract order is defined once, by EVENT_SCHEMA
    raise RuntimeError("_KINDS must list CONTENT_COLUMNS in contract order")

ACCEPTED_FIELDS: Final[frozenset[str]] = frozenset(EVENT_SCHEMA.names)
_DEFAULTABLE: Final = ("source_component", "source_module", "environment")
_REQUIRED, _DEFAULT_NOW, _WRITER_DEFAULT = 1, 2, 3
_SPECS: Final[tuple[tuple[str, int, int], ...]] = tuple(
    (
        name,
        kind,
        _REQUIRED
        if name == "event_type"
        else _DEFAULT_NOW
        if name == "event_timestamp"
        else _WRITER_DEFAULT
        if name in _DEFAULTABLE
        else 0,
    )
    for name, kind in _KINDS.items()
)

_TYPE_REQUIREMENTS: Final[dict[str, tuple[str, ...]]] = {
    "pipeline_stage": ("pipeline_stage", "pipeline_status"),
    "user_interaction": ("user_action",),
    "performance": ("duration_ms",),
}
_METRIC_MEASURES: Final = ("memory_usage_mb", "cpu_usage_percent", "duration_ms")
_IDX: Final[dict[str, int]] = {name: i for i, name in enumerate(CONTENT_COLUMNS)}


@dataclass(frozen=True)
class Defaults:
    """Values a writer supplies for columns an event leaves empty."""

    source_component: str | None = None
    source_module: str | None = None
    environment: str | None = None


NO_DEFAULTS: Final = Defaults()


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(value: object) -> str:
    return type(value).__name__


def to_micros(value: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime."""
    return (value - _EPOCH) // timedelta(microseconds=1)


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def now_micros() -> int:
    return time.time_ns() // 1000


def _timestamp(name: str, value: object) -> int:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise EventValidationError(
                name, f"{_show(value)} is not an ISO-8601 timestamp"
            ) from None
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise EventValidationError(
                name,
                f"{_show(value)} has no UTC offset; write it in UTC with 'Z' or '+00:00'",
            )
        value = parsed
    elif not isinstance(value, datetime):
        raise EventValidationError(
            name, f"expected a datetime or an ISO-8601 string, got {_type_name(value)}"
        )
    elif value.tzinfo is None or value.utcoffset() is None:
        raise EventValidationError(
            name,
            "naive datetime (no time zone); pass an aware datetime, "
            "e.g. datetime.now(timezone.utc)",
        )
    micros = to_micros(value)
    if not _MIN_US <= micros < _MAX_US:
        raise EventValidationError(
            name, f"{value.isoformat()} is outside 2000-01-01 .. 2099-12-31 (UTC)"
        )
    return micros


def _canonical_json(value: object) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise EventValidationError("event_data", "string is not valid JSON") from None
    if not isinstance(value, Mapping):
        raise EventValidationError(
            "event_data", f"expected a JSON object (dict), got {_type_name(value)}"
        )
    try:
        text = CANONICAL_JSON.encode(value)
    except RecursionError:
        raise EventValidationError("event_data", "nested too deeply") from None
    except (TypeError, ValueError) as exc:
        raise EventValidationError("event_data", f"not JSON-serializable: {exc}") from None
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_EVENT_DATA_BYTES:
        raise EventValidationError(
            "event_data",
            f"canonical JSON is {size:,} bytes, over the {MAX_EVENT_DATA_BYTES:,}-byte limit",
        )
    return text


def _check(name: str, kind: int, value: object) -> object:
    if kind in (_TEXT, _MESSAGE):
        if type(value) is not str:
            raise EventValidationError(name, f"expected a string, got {_type_name(value)}")
        limit = MAX_MESSAGE_TEXT if kind == _MESSAGE else MAX_SHORT_TEXT
        if len(value) > limit:
            raise EventValidationError(
                name, f"{len(value):,} characters, over the {limit:,}-character limit"
            )
        return value
    if kind in (_ID, _COUNT):
        if type(value) is not int:
            raise EventValidationError(
                name, f"expected an integer, got {_type_name(value)} {_show(value)}"
            )
        low = 1 if kind == _ID else 0
        if not low <= value <= INT64_MAX:
            what = "a positive integer" if kind == _ID else "an integer >= 0"
            raise EventValidationError(name, f"{value} is not {what} within int64")
        return value
    if kind == _MEASURE:
        if type(value) is not float and type(value) is not int:
            raise EventValidationError(
                name, f"expected a number, got {_type_name(value)} {_show(value)}"
            )
        number = float(value)
        if not math.isfinite(number) or number < 0:
            raise EventValidationError(name, f"{_show(value)} is not a finite number >= 0")
        return number
    if kind == _ENUM:
        allowed = EVENT_TYPES if name == "event_type" else SEVERITIES
        if value not in allowed or type(value) is not str:
            listed = ", ".join(repr(a) for a in allowed)
            raise EventValidationError(name, f"{_show(value)} is not one of {listed}")
        return value
    if kind == _TIMESTAMP:
        return _timestamp(name, value)
    return _canonical_json(value)


def _locate_bad_unicode(raw: Mapping[str, object]) -> EventValidationError:
    for name, value in raw.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return EventValidationError(name, "contains a lone surrogate (invalid Unicode)")
    return EventValidationError("event_data", "contains a lone surrogate (invalid Unicode)")


def normalize(
    raw: Mapping[str, object],
    *,
    defaults: Defaults = NO_DEFAULTS,
    default_timestamp_us: int | None = None,
    created_at_us: int | None = None,
) -> Row:
    """Check one event against the contract and return its Row (FILE_COLUMNS order).

    ``raw`` maps column names to values: Python values (``datetime``, ``dict``) or their
    JSON forms (ISO-8601 strings). Raises ``EventValidationError`` naming the first bad
    field (checked in contract order). ``default_timestamp_us`` fills a missing
    ``event_timestamp``; without it the field is required.
    """
    if not ACCEPTED_FIELDS.issuperset(raw):
        unknown = sorted(str(k) for k in raw if k not in ACCEPTED_FIELDS)[0]
        raise EventValidationError(unknown, "unknown field; the events contract has no such column")
    get = raw.get
    values: list[object] = []
    append = values.append
    for name, kind, special in _SPECS:
        value = get(name)
        if value is None:
            if not special:
                append(None)
                continue
            if special == _REQUIRED:
                raise EventValidationError(name, "required field is missing")
            if special == _DEFAULT_NOW:
                if default_timestamp_us is None:
                    raise EventValidationError(name, "required field is missing")
                append(default_timestamp_us)
                continue
            value = getattr(defaults, name)
            if value is None:
                append(None)
                continue
        # fast paths for the common valid cases; _check handles the rest and every error
        if kind == _TEXT:
            if type(value) is str and len(value) <= MAX_SHORT_TEXT:
                append(value)
                continue
        elif kind == _ID and type(value) is int and 1 <= value <= INT64_MAX:
            append(value)
            continue
        append(_check(name, kind, value))

    event_type = values[0]
    if values[_IDX["source_component"]] is None:
        raise EventValidationError(
            "source_component",
            "required field is missing (set it on the event or as the writer's default)",
        )
    severity_at = _IDX["event_severity"]
    if values[severity_at] is None:
        values[severity_at] = "error" if event_type == "error" else "info"
    for needed in _TYPE_REQUIREMENTS.get(str(event_type), ()):
        if values[_IDX[needed]] is None:
            raise EventValidationError(needed, f"required for {event_type} events")
    if event_type == "system_metric" and all(values[_IDX[m]] is None for m in _METRIC_MEASURES):
        raise EventValidationError(
            "memory_usage_mb",
            "system_metric events need memory_usage_mb, cpu_usage_percent or duration_ms",
        )
    if event_type == "error" and values[severity_at] not in ("error", "critical"):
        raise EventValidationError(
            "event_severity",
            f"{values[severity_at]!r} is too low for an error event (use 'error' or 'critical')",
        )

    ts_us = cast(int, values[_IDX["event_timestamp"]])
    _check_partition_fields(raw, ts_us)

    content = COMPACT_JSON.encode(values)
    raw_id = raw.get("event_id")
    try:
        content_bytes = content.encode("utf-8")
    except UnicodeEncodeError:
        raise _locate_bad_unicode(raw) from None
    if raw_id is None:
        digest = hashlib.sha1(EVENT_ID_NAMESPACE.bytes + content_bytes, usedforsecurity=False)
        event_id = str(uuid.UUID(bytes=digest.digest()[:16], version=5))
    elif type(raw_id) is not str or not _EVENT_ID_RE.fullmatch(raw_id):
        raise EventValidationError(
            "event_id",
            f"{_show(raw_id)} is not 1-{MAX_EVENT_ID} characters of A-Z a-z 0-9 . _ : -",
        )
    else:
        event_id = raw_id

    raw_created = raw.get("created_at")
    if raw_created is not None:
        created = _timestamp("created_at", raw_created)
    elif created_at_us is not None:
        created = created_at_us
    else:
        created = now_micros()
    return (event_id, *values, created)


def _check_partition_fields(raw: Mapping[str, object], ts_us: int) -> None:
    given_date = raw.get("event_date")
    given_hour = raw.get("event_hour")
    if given_date is None and given_hour is None:
        return
    day, hour = partition_of(ts_us // US_PER_HOUR)
    if given_date is not None:
        if isinstance(given_date, datetime) or not isinstance(given_date, date | str):
            raise EventValidationError(
                "event_date", f"expected a date or 'YYYY-MM-DD', got {_type_name(given_date)}"
            )
        text = given_date if isinstance(given_date, str) else given_date.isoformat()
        if text != day.isoformat():
            raise EventValidationError(
                "event_date",
                f"{_show(given_date)} does not match event_timestamp (UTC date {day})",
            )
    if given_hour is not None and (type(given_hour) is not int or given_hour != hour):
        raise EventValidationError(
            "event_hour", f"{_show(given_hour)} does not match event_timestamp (UTC hour {hour})"
        )


def event_to_mapping(event: Event) -> Mapping[str, object]:
    """The fields of an Event that are set (a read-only view, no copy of values)."""
    return {k: v for k, v in event.__dict__.items() if v is not None}


def validate_event(event: Event | Mapping[str, object], *, defaults: Defaults = NO_DEFAULTS) -> Row:
    """Validate without writing (the current time fills a missing timestamp of an Event)."""
    if isinstance(event, Event):
        return normalize(
            event_to_mapping(event), defaults=defaults, default_timestamp_us=now_micros()
        )
    return normalize(event, defaults=defaults)


# ---------------------------------------------------------------------------------------
# Partitions, paths, reading
# ---------------------------------------------------------------------------------------

_DATE_DIR_RE = re.compile(r"event_date=(\d{4}-\d{2}-\d{2})")
_HOUR_DIR_RE = re.compile(r"event_hour=(0|[1-9]|1\d|2[0-3])")


def partition_of(hour_index: int) -> tuple[date, int]:
    """(UTC date, hour 0-23) of an hour index (hours since the Unix epoch)."""
    moment = _EPOCH + timedelta(hours=hour_index)
    return moment.date(), moment.hour


def partition_dir(root: Path, hour_index: int) -> Path:
    """``root/event_date=YYYY-MM-DD/event_hour=H``: the only path built from event values,
    and only from the validated timestamp."""
    day, hour = partition_of(hour_index)
    return root / f"event_date={day.isoformat()}" / f"event_hour={hour}"


def parse_partition_dir(root: Path, folder: Path) -> int | None:
    """The hour index of a partition folder, or None when it is not one of ours."""
    try:
        rel = folder.relative_to(root).parts
    except ValueError:
        return None
    if len(rel) != 2:
        return None
    day_match = _DATE_DIR_RE.fullmatch(rel[0])
    hour_match = _HOUR_DIR_RE.fullmatch(rel[1])
    if day_match is None or hour_match is None:
        return None
    try:
        day = date.fromisoformat(day_match.group(1))
    except ValueError:
        return None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return to_micros(start) // US_PER_HOUR + int(hour_match.group(1))


# The glob a reader uses: exact depth and suffix, so temporary files never match it.
EVENTS_GLOB: Final = "event_date=*/event_hour=*/*.parquet"
HIVE_TYPES_SQL: Final = "{'event_date': 'DATE', 'event_hour': 'INTEGER'}"


def read_sql(root: str | os.PathLike[str]) -> str:
    """A DuckDB table expression over every event file under ``root``."""
    pattern = (Path(root) / EVENTS_GLOB).as_posix().replace("'", "''")
    return (
        f"read_parquet('{pattern}', hive_partitioning = true, "
        f"hive_types = {HIVE_TYPES_SQL}, union_by_name = true)"
    )
