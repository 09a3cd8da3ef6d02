"""The FastAPI application: ``/api/v1/analytics/...`` (the four questions), ``/api/v1/health``
and the OpenAPI docs at ``/docs``.

Every bad request gets a 4xx whose JSON body names the parameter (``{"detail": ...,
"parameter": ...}``): a missing or unparseable value, a range the service refuses and an
unknown parameter alike; a backend that cannot answer (no mart yet, source down) a 503. The
handlers are plain functions (``def``): FastAPI runs them on its thread pool, and each thread
reads through its own DuckDB cursor or PostgreSQL connection.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from chrono_analytics.api import schemas
from chrono_analytics.api.service import (
    DEFAULT_DOMAIN_LIMIT,
    DEFAULT_HOURS_BACK,
    MAX_DOMAIN_LIMIT,
    MAX_DOMAIN_RANGE_DAYS,
    MAX_HOURS_BACK,
    MAX_ID,
    MAX_RANGE_DAYS,
    AnalyticsService,
    BackendUnavailable,
    RequestError,
)

log = logging.getLogger(__name__)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.ErrorBody, "description": "An unknown parameter."},
    422: {"model": schemas.ErrorBody, "description": "A missing or invalid parameter."},
    503: {"model": schemas.ErrorBody, "description": "The backend cannot answer now."},
}


def _date(name: str, value: str) -> date:
    if not _DATE_RE.fullmatch(value):
        raise RequestError(name, f"{name} must be a date YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RequestError(name, f"{name} is not a valid date: {value!r}") from None


def _only(*allowed: str) -> Callable[[Request], None]:
    """A dependency that refuses query parameters the endpoint does not take."""

    def check(request: Request) -> None:
        keys = list(request.query_params.keys())
        for key in keys:
            if key not in allowed:
                known = ", ".join(allowed) or "none"
                raise RequestError(key, f"unknown parameter {key!r} (this endpoint takes: {known})")
        for key in set(keys):
            if len(request.query_params.getlist(key)) > 1:
                raise RequestError(key, f"parameter {key!r} is given more than once")

    return check


StartDate = Annotated[
    str,
    Query(
        description="First day of the range, YYYY-MM-DD (inclusive).",
        examples=["2024-01-01"],
    ),
]
EndDate = Annotated[
    str,
    Query(description="Last day of the range, YYYY-MM-DD (inclusive).", examples=["2024-01-31"]),
]


def create_app(service: AnalyticsService, lake_root: Path) -> FastAPI:
    app = FastAPI(
        title="Chrono Scraper analytics",
        version="1",
        description="Scraping performance, domain analysis, content quality and system "
        "performance, read from the warehouse's reporting marts (or, with --backend "
        "postgres, computed from the source). Dates are UTC days.",
    )
    router = APIRouter(prefix="/api/v1/analytics", tags=["Analytics"], responses=ERRORS)

    @app.exception_handler(RequestError)
    def request_error(request: Request, exc: RequestError) -> JSONResponse:
        status = 400 if exc.message.startswith(("unknown parameter", "parameter")) else 422
        return JSONResponse({"detail": exc.message, "parameter": exc.parameter}, status)

    @app.exception_handler(RequestValidationError)
    def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        location = [str(part) for part in first.get("loc", ())]
        parameter = location[-1] if location else None
        given = first.get("input")
        reason = str(first.get("msg", "invalid value"))
        if first.get("type") == "missing":
            message = f"{parameter} is required"
        else:
            message = f"{parameter}: {reason.lower()} (got {given!r})"
        return JSONResponse({"detail": message, "parameter": parameter}, 422)

    @app.exception_handler(BackendUnavailable)
    def unavailable(request: Request, exc: BackendUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "parameter": None}, 503)

    @router.get(
        "/performance/summary",
        dependencies=[Depends(_only("start_date", "end_date", "project_id"))],
        summary="Scraping performance summary and daily trends",
        description=f"Processing days start_date .. end_date (at most {MAX_RANGE_DAYS:,} days), "
        "all projects or one.",
    )
    def performance_summary(
        start_date: StartDate,
        end_date: EndDate,
        project_id: Annotated[
            int | None, Query(ge=1, le=MAX_ID, description="Only this project's pages.")
        ] = None,
    ) -> schemas.PerformanceSummary:
        return service.performance_summary(
            _date("start_date", start_date), _date("end_date", end_date), project_id
        )

    @router.get(
        "/domains/analysis",
        dependencies=[Depends(_only("start_date", "end_date", "limit"))],
        summary="Domains by average quality",
        description="Archive dates start_date .. end_date, read in whole archive months (the "
        f"months of both dates; at most {MAX_DOMAIN_RANGE_DAYS:,} days); domains with at least "
        "10 records there.",
    )
    def domain_analysis(
        start_date: StartDate,
        end_date: EndDate,
        limit: Annotated[
            int, Query(ge=1, le=MAX_DOMAIN_LIMIT, description="How many domains to return.")
        ] = DEFAULT_DOMAIN_LIMIT,
    ) -> schemas.DomainAnalysis:
        return service.domain_analysis(
            _date("start_date", start_date), _date("end_date", end_date), limit
        )

    @router.get(
        "/content/quality-distribution",
        dependencies=[Depends(_only("start_date", "end_date"))],
        summary="Content quality buckets",
        description=f"Processing days start_date .. end_date (at most {MAX_RANGE_DAYS:,} days).",
    )
    def quality_distribution(
        start_date: StartDate, end_date: EndDate
    ) -> schemas.QualityDistribution:
        return service.quality_distribution(
            _date("start_date", start_date), _date("end_date", end_date)
        )

    @router.get(
        "/system/performance",
        dependencies=[Depends(_only("hours_back"))],
        summary="System performance per hour and component",
        description="The current UTC hour and the hours_back - 1 hours before it.",
    )
    def system_performance(
        hours_back: Annotated[
            int, Query(ge=1, le=MAX_HOURS_BACK, description="How many UTC hours to return.")
        ] = DEFAULT_HOURS_BACK,
    ) -> schemas.SystemPerformance:
        return service.system_performance(hours_back)

    @app.get(
        "/api/v1/health",
        tags=["Health"],
        dependencies=[Depends(_only())],
        responses=ERRORS,
        summary="Freshness of every mart",
    )
    def health() -> schemas.Health:
        return service.health(lake_root)

    app.include_router(router)
    return app
