"""A realistic, deterministic stream of events, written through the library itself.

Needs no database: ids and counts come as plain ints or iterables. The same arguments give
the same events (same content, hence the same event ids) in every run and process.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Final, Unpack

from chrono_analytics.events.api import Event, EventContext
from chrono_analytics.events.writer import EventWriter

DEMO_START: Final = datetime(2024, 1, 1, tzinfo=UTC)
DEMO_ENVIRONMENT: Final = "demo"

_COMPONENTS: Final = ("api", "scrape_worker", "extraction_worker", "indexer")
_ACTIONS: Final = (
    ("login", 12),
    ("view_dashboard", 20),
    ("search", 25),
    ("view_page", 25),
    ("create_project", 3),
    ("start_scrape", 6),
    ("export_results", 4),
    ("logout", 5),
)
_ENDPOINTS: Final = (
    ("GET", "/api/v1/projects"),
    ("GET", "/api/v1/search"),
    ("POST", "/api/v1/projects"),
    ("GET", "/api/v1/pages"),
    ("POST", "/api/v1/scrape"),
)
_FETCH_ERRORS: Final = (
    ("HTTP_503", "network", "wayback returned 503 Service Unavailable"),
    ("TIMEOUT", "network", "fetch timed out after 30 s"),
    ("HTTP_404", "not_found", "archived capture not found"),
    ("HTTP_429", "rate_limit", "rate limited by the archive"),
)
_EXTRACTION_ERRORS: Final = (
    ("PARSE_ERROR", "parsing", "HTML could not be parsed"),
    ("EMPTY_CONTENT", "content", "no text content extracted"),
)

_FAILURES: Final[dict[str, tuple[float, tuple[tuple[str, str, str], ...]]]] = {
    "fetch": (0.06, _FETCH_ERRORS),
    "content_extraction": (0.03, _EXTRACTION_ERRORS),
}


def _with(base: EventContext, **extra: Unpack[EventContext]) -> EventContext:
    merged = base.copy()
    merged.update(extra)
    return merged


def _ids(value: int | Iterable[int], what: str) -> list[int]:
    ids = list(range(1, value + 1)) if isinstance(value, int) else list(value)
    if not ids:
        raise ValueError(f"{what}: at least one id is needed")
    return ids


def generate_demo_events(
    writer: EventWriter,
    *,
    pages: int | Iterable[int] = 1_000,
    users: int | Iterable[int] = 10,
    projects: int | Iterable[int] = 3,
    domains: int | Iterable[int] | None = None,
    start: datetime = DEMO_START,
    end: datetime | None = None,
    seed: int = 42,
) -> dict[str, int]:
    """Write a demo stream into ``writer`` and return the number of events per type.

    ``pages``, ``users``, ``projects``, ``domains``: a count (ids 1..n) or the ids
    themselves. Domains default to three per project; domain k belongs to project
    k mod len(projects), page i to domain i mod len(domains), and each project has one
    scrape session (ids 1..len(projects)). Project p is owned by user p mod len(users).
    Events fall in [start, end) (default: the 24 hours from ``start``, 2024-01-01 UTC):

    - per page: ``pipeline_stage`` events for discovery, fetch, content_extraction and
      indexing (about 6 % of fetches and 3 % of extractions fail, each failure followed by
      an ``error`` event with its code and category);
    - per user: ``user_interaction`` events (about two per user and hour);
    - every 5 minutes per component: a ``system_metric`` with memory, CPU and queue time;
    - API requests: ``performance`` events with durations (about 1 % fail with an
      ``error``, a few of them ``critical``).
    """
    if start.tzinfo is None:
        raise ValueError("start must be an aware datetime")
    stop = end if end is not None else start + timedelta(hours=24)
    if stop <= start:
        raise ValueError("end must be after start")
    span_s = (stop - start).total_seconds()
    hours = max(1, round(span_s / 3600))
    rng = random.Random(seed)
    page_ids = _ids(pages, "pages")
    user_ids = _ids(users, "users")
    project_ids = _ids(projects, "projects")
    domain_ids = _ids(domains if domains is not None else 3 * len(project_ids), "domains")
    counts: Counter[str] = Counter()

    def at(seconds: float) -> datetime:
        seconds = min(max(seconds, 0.0), span_s - 0.001)
        return start + timedelta(microseconds=int(seconds * 1_000_000))

    def put(event: Event) -> None:
        writer.capture(event)
        counts[event.event_type] += 1

    def ms(mean: float, sigma: float = 0.6) -> float:
        return round(rng.lognormvariate(0, sigma) * mean, 3)

    # pipeline stages per page
    for position, page_id in enumerate(page_ids):
        domain_position = position % len(domain_ids)
        project_position = domain_position % len(project_ids)
        context: EventContext = {
            "project_id": project_ids[project_position],
            "domain_id": domain_ids[domain_position],
            "scrape_session_id": project_position + 1,
            "scrape_page_id": page_id,
            "user_id": user_ids[project_position % len(user_ids)],
            "environment": DEMO_ENVIRONMENT,
            "correlation_id": f"page-{page_id}",
            "trace_id": f"{rng.getrandbits(64):016x}",
        }
        clock = rng.uniform(0, span_s * 0.98)
        for stage, component, mean_ms in (
            ("discovery", "scrape_worker", 40.0),
            ("fetch", "scrape_worker", 850.0),
            ("content_extraction", "extraction_worker", 320.0),
            ("indexing", "indexer", 60.0),
        ):
            duration = ms(mean_ms)
            clock += duration / 1000 + rng.uniform(0.05, 2.0)
            rate, catalogue = _FAILURES.get(stage, (0.0, ()))
            failed = rng.random() < rate
            put(
                Event.pipeline_stage_event(
                    stage,
                    "failed" if failed else "completed",
                    duration_ms=duration,
                    items_processed=1,
                    success_count=0 if failed else 1,
                    failure_count=1 if failed else 0,
                    severity="warning" if failed else "info",
                    **_with(
                        context,
                        event_timestamp=at(clock),
                        source_component=component,
                        source_module=f"chrono.pipeline.{stage}",
                    ),
                )
            )
            if failed:
                code, category, message = rng.choice(catalogue)
                put(
                    Event.error(
                        error_code=code,
                        error_category=category,
                        pipeline_stage=stage,
                        **_with(
                            context,
                            event_message=message,
                            event_timestamp=at(clock + 0.001),
                            source_component=component,
                            source_module=f"chrono.pipeline.{stage}",
                            event_data={"retry": rng.randint(0, 3), "stage": stage},
                        ),
                    )
                )
                break

    # user interactions
    actions = [a for a, _ in _ACTIONS]
    weights = [w for _, w in _ACTIONS]
    for user_id in user_ids:
        for _ in range(2 * hours):
            action = rng.choices(actions, weights)[0]
            put(
                Event.user_interaction(
                    action,
                    duration_ms=ms(120.0),
                    user_id=user_id,
                    project_id=rng.choice(project_ids),
                    event_timestamp=at(rng.uniform(0, span_s)),
                    source_component="web_interface",
                    source_module="chrono.frontend",
                    environment=DEMO_ENVIRONMENT,
                    event_data={"feature": action, "client": rng.choice(("web", "api"))},
                )
            )

    # system metrics: every 5 minutes per component, a random walk
    memory = {c: 300.0 + 150 * i for i, c in enumerate(_COMPONENTS)}
    for step in range(int(span_s // 300)):
        for component in _COMPONENTS:
            memory[component] = min(4000.0, max(120.0, memory[component] + rng.gauss(0, 25)))
            put(
                Event.system_metric(
                    memory_usage_mb=round(memory[component], 2),
                    cpu_usage_percent=round(min(100.0, max(0.5, rng.gauss(35, 18))), 2),
                    duration_ms=ms(15.0),
                    event_subtype="resource_sample",
                    event_timestamp=at(step * 300 + rng.uniform(0, 2)),
                    source_component=component,
                    source_module="chrono.monitoring",
                    environment=DEMO_ENVIRONMENT,
                )
            )

    # API request timings and the occasional failure
    for _ in range(60 * hours * max(1, len(user_ids) // 10)):
        method, endpoint = rng.choice(_ENDPOINTS)
        when = rng.uniform(0, span_s)
        failed = rng.random() < 0.01
        put(
            Event.performance(
                ms(95.0, 0.9),
                memory_usage_mb=round(rng.uniform(180, 420), 2),
                cpu_usage_percent=round(rng.uniform(1, 60), 2),
                event_subtype="http_request",
                event_status="500" if failed else "200",
                user_id=rng.choice(user_ids),
                event_timestamp=at(when),
                source_component="api",
                source_module="chrono.api",
                environment=DEMO_ENVIRONMENT,
                event_data={"method": method, "endpoint": endpoint},
            )
        )
        if failed:
            put(
                Event.error(
                    error_code="HTTP_500",
                    error_category="server",
                    severity="critical" if rng.random() < 0.2 else "error",
                    event_message=f"{method} {endpoint} failed",
                    event_timestamp=at(when + 0.001),
                    source_component="api",
                    source_module="chrono.api",
                    environment=DEMO_ENVIRONMENT,
                )
            )
    return dict(sorted(counts.items()))
