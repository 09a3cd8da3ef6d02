"""The public API of the event library: ``Event``, its factories, ``validate_event``.

An ``Event``'s attributes are exactly the contract's columns (``schema.py``) less the
partition columns, which are derived; ``None`` means "not set". The factories name what
each kind of event must carry; ``validation.py`` checks everything when the event is
captured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, Unpack

from chrono_analytics.events.schema import EventType, Row, Severity
from chrono_analytics.events.validation import NO_DEFAULTS, Defaults, normalize, now_micros


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


def validate_event(event: Event | Mapping[str, object], *, defaults: Defaults = NO_DEFAULTS) -> Row:
    """Validate without writing (the current time fills a missing timestamp of an Event)."""
    if isinstance(event, Event):
        return normalize(event.__dict__, defaults=defaults, default_timestamp_us=now_micros())
    return normalize(event, defaults=defaults)
