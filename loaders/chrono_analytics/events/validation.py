"""Validation: what makes an event valid, and its deterministic id.

``normalize`` turns one event (a mapping of column names to values) into a ``Row`` or
raises ``EventValidationError`` naming the first bad field. The columns and their kinds
are in ``schema.py``; the rules, each pinned by a test in
``loaders/tests/test_events_contract.py``:

- **Event types** form a closed set (``EVENT_TYPES``); any other value is rejected, so the
  mart's ``accepted_values`` test can be strict. ``event_subtype`` is free text for finer
  kinds.
- **Severities** (``SEVERITIES``) are lower-case only (no case folding: one spelling per
  value). When absent, the severity is ``error`` for ``error`` events and ``info`` for
  every other type.
- **Per-type requirements**: ``pipeline_stage`` needs ``pipeline_stage`` and
  ``pipeline_status``; ``user_interaction`` needs ``user_action``; ``system_metric``
  needs at least one of ``memory_usage_mb``, ``cpu_usage_percent``, ``duration_ms``;
  ``performance`` needs ``duration_ms``; ``error`` needs severity ``error`` or
  ``critical``.
- **Always required**: ``event_type``, ``event_timestamp`` (the typed ``Event`` API fills
  it with the current time when omitted; a record from a file must carry it) and
  ``source_component`` (a writer may supply a default).
- **Timestamps** are UTC. A naive ``datetime`` (no ``tzinfo``) and an ISO-8601 string
  without an offset are **rejected**, never guessed: a local clock's time cannot be
  placed in UTC. Aware values in any zone are converted to UTC. Digits beyond
  microseconds are truncated. Accepted range: 2000-01-01 to 2099-12-31 (UTC), so a bad
  clock cannot create partitions in year 9999.
- **event_date / event_hour** are derived from ``event_timestamp`` (UTC). A record may
  carry them; they must then agree with the timestamp.
- **event_data** is a JSON object (a ``dict``, or a string holding a JSON object), stored
  as canonical JSON text (sorted keys, no spaces, UTF-8, NaN/Infinity refused) of at most
  ``MAX_EVENT_DATA_BYTES`` (64 KiB) bytes.
- **Strings**: at most 255 characters (``event_message``: 8,192), valid Unicode (no lone
  surrogates). **Integers** (ids, counts): Python ``int`` (``bool`` and ``"12"`` are
  refused), ids >= 1, counts >= 0, within int64. **Measures** (``duration_ms``,
  ``memory_usage_mb``, ``cpu_usage_percent``): finite numbers >= 0.
- **Unknown fields** are rejected (a typo must not silently drop data).
- **event_id**: the caller's id when given (1-128 characters of ``A-Z a-z 0-9 . _ : -``),
  otherwise a deterministic UUID (version 5, SHA-1) of the canonical content: the JSON
  array of ``CONTENT_COLUMNS`` in contract order, timestamps as integer microseconds,
  measures as floats. The same content gives the same id in every process and on every
  machine (never Python's ``hash()``), so replaying a spool or re-ingesting a file yields
  the same ids and readers deduplicate by ``event_id``. Two events identical in every
  column, timestamp included to the microsecond, are by definition one event; the writer
  makes the timestamps it fills in itself strictly increasing to keep distinct captures
  apart.
- **created_at** is the time the library accepted the event (a record may carry its own,
  e.g. when re-ingesting an export).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final, cast

from chrono_analytics.events.schema import (
    COLUMNS,
    CONTENT_COLUMNS,
    EVENT_SCHEMA,
    MAX_EVENT_DATA_BYTES,
    MAX_EVENT_ID,
    MAX_MESSAGE_TEXT,
    MAX_SHORT_TEXT,
    US_PER_HOUR,
    Kind,
    Row,
    from_micros,
    to_micros,
)

INT64_MAX: Final = 2**63 - 1
_MIN_US: Final = to_micros(datetime(2000, 1, 1, tzinfo=UTC))
_MAX_US: Final = to_micros(datetime(2100, 1, 1, tzinfo=UTC))  # exclusive

EVENT_ID_NAMESPACE: Final = uuid.UUID("6f1c1f0e-3c55-5b0e-9a43-2f8d3c1e7a10")
_EVENT_ID_RE = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_EVENT_ID}}}")

# Encoders made once (json.dumps with options builds a new encoder at every call).
CANONICAL_JSON: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
COMPACT_JSON: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class EventValidationError(ValueError):
    """An event breaks the contract; ``field`` names the column, ``problem`` says how."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Defaults:
    """Values a writer supplies for columns an event leaves empty."""

    source_component: str | None = None
    source_module: str | None = None
    environment: str | None = None


NO_DEFAULTS: Final = Defaults()


def now_micros() -> int:
    return time.time_ns() // 1000


# Plain ints in the hot loop of normalize (an IntEnum comparison costs more).
_TEXT = int(Kind.TEXT)
_MESSAGE = int(Kind.MESSAGE)
_ENUM = int(Kind.ENUM)
_TIMESTAMP = int(Kind.TIMESTAMP)
_ID = int(Kind.ID)
_COUNT = int(Kind.COUNT)
_MEASURE = int(Kind.MEASURE)

ACCEPTED_FIELDS: Final[frozenset[str]] = frozenset(EVENT_SCHEMA.names)
_CHOICES: Final[dict[str, tuple[str, ...]]] = {c.name: c.choices for c in COLUMNS if c.choices}
_DEFAULTABLE: Final = ("source_component", "source_module", "environment")
_REQUIRED, _DEFAULT_NOW, _WRITER_DEFAULT = 1, 2, 3
# (name, kind, how a missing value is treated) of every content column, in contract order
_SPECS: Final[tuple[tuple[str, int, int], ...]] = tuple(
    (
        c.name,
        int(c.kind),
        _REQUIRED
        if c.name == "event_type"
        else _DEFAULT_NOW
        if c.name == "event_timestamp"
        else _WRITER_DEFAULT
        if c.name in _DEFAULTABLE
        else 0,
    )
    for c in COLUMNS
    if c.name in CONTENT_COLUMNS
)

_TYPE_REQUIREMENTS: Final[dict[str, tuple[str, ...]]] = {
    "pipeline_stage": ("pipeline_stage", "pipeline_status"),
    "user_interaction": ("user_action",),
    "performance": ("duration_ms",),
}
_METRIC_MEASURES: Final = ("memory_usage_mb", "cpu_usage_percent", "duration_ms")
_IDX: Final[dict[str, int]] = {name: i for i, name in enumerate(CONTENT_COLUMNS)}


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(value: object) -> str:
    return type(value).__name__


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
        allowed = _CHOICES[name]
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
    created = now_micros() if raw_created is None else _timestamp("created_at", raw_created)
    return (event_id, *values, created)


def _check_partition_fields(raw: Mapping[str, object], ts_us: int) -> None:
    given_date = raw.get("event_date")
    given_hour = raw.get("event_hour")
    if given_date is None and given_hour is None:
        return
    moment = from_micros(ts_us - ts_us % US_PER_HOUR)
    day, hour = moment.date(), moment.hour
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
