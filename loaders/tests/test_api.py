"""The analytics API (chrono_analytics.api): the same requests answered by the lake backend
(the reporting marts) and by the PostgreSQL backend (computed from the source tables as the
read-only role, and from the raw event files) must agree - exactly for every count, within
AVERAGE_TOLERANCE (relative) for averages and costs. This reconciles the whole warehouse end
to end: source -> staging -> marts -> reporting marts -> service. Also: every bad request gets
a 4xx naming its parameter, empty ranges answer zeros, and requests served while dbt commits
each read one committed snapshot and never fail.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from chrono_analytics.api.app import create_app
from chrono_analytics.api.hosts import DomainCategories, url_host
from chrono_analytics.api.service import (
    AnalyticsService,
    LakeBackend,
    PostgresBackend,
    quality_buckets,
)
from chrono_analytics.pgserver import free_port
from warehouse_helpers import PROJECT_ROOT, Warehouse

HERE = Path(__file__).resolve().parent
AVERAGE_TOLERANCE = 1e-6
"""Relative tolerance for averages, rates and costs: both backends sum the same integers, but
costs are sums of doubles in another order, and durations are rounded to ms from float
seconds by two engines."""


@pytest.fixture(scope="module")
def services(built_warehouse: Warehouse) -> tuple[AnalyticsService, AnalyticsService]:
    lake = AnalyticsService(LakeBackend(built_warehouse.lake_root))
    postgres = AnalyticsService(
        PostgresBackend(built_warehouse.dsn, built_warehouse.lake_root / "raw" / "events")
    )
    return lake, postgres


def _same(lake: Any, postgres: Any, path: str = "") -> list[str]:
    """Differences between two JSON-like answers: ints and strings exact, floats within the
    tolerance."""
    if isinstance(lake, dict) and isinstance(postgres, dict):
        if lake.keys() != postgres.keys():
            return [f"{path}: keys {sorted(lake)} != {sorted(postgres)}"]
        return [d for k in lake for d in _same(lake[k], postgres[k], f"{path}.{k}")]
    if isinstance(lake, list) and isinstance(postgres, list):
        if len(lake) != len(postgres):
            return [f"{path}: {len(lake)} items != {len(postgres)}"]
        return [
            d
            for i, (a, b) in enumerate(zip(lake, postgres, strict=True))
            for d in _same(a, b, f"{path}[{i}]")
        ]
    if isinstance(lake, float) or isinstance(postgres, float):
        if lake is None or postgres is None:
            return [f"{path}: {lake!r} != {postgres!r}"]
        if not math.isclose(lake, postgres, rel_tol=AVERAGE_TOLERANCE, abs_tol=1e-9):
            return [f"{path}: {lake!r} != {postgres!r}"]
        return []
    return [] if lake == postgres else [f"{path}: {lake!r} != {postgres!r}"]


def _span(built_warehouse: Warehouse) -> tuple[date, date, int]:
    lake = LakeBackend(built_warehouse.lake_root).lake
    first, last = lake.query(
        "select min(analytics_date), max(analytics_date) from project_performance_daily"
    )[0]
    project = lake.query(
        "select project_id from project_performance_daily group by project_id "
        "order by sum(pages_discovered) desc, project_id limit 1"
    )[0][0]
    return first, last, int(project)


def test_both_backends_give_the_same_answers(
    built_warehouse: Warehouse, services: tuple[AnalyticsService, AnalyticsService]
) -> None:
    lake, postgres = services
    first, last, project = _span(built_warehouse)
    middle = first + (last - first) / 2
    ranges = [
        (first, last),  # everything
        (middle, middle + timedelta(days=30)),  # a month inside
        (middle, middle),  # one day
        (date(1990, 1, 1), date(1990, 12, 31)),  # nothing
    ]
    differences: list[str] = []
    checked = 0
    for start, end in ranges:
        for project_id in (None, project):
            a = lake.performance_summary(start, end, project_id).model_dump(mode="json")
            b = postgres.performance_summary(start, end, project_id).model_dump(mode="json")
            differences += _same(a, b, f"performance {start}..{end} project {project_id}")
            checked += 1
        a = lake.quality_distribution(start, end).model_dump(mode="json")
        b = postgres.quality_distribution(start, end).model_dump(mode="json")
        differences += _same(a, b, f"quality {start}..{end}")
        checked += 1
    # archive dates: all time, a few years, one month, none; the default and a small limit
    for start, end in [
        (date(1990, 1, 1), date(2030, 12, 31)),
        (date(2012, 3, 15), date(2016, 8, 2)),
        (date(2015, 6, 1), date(2015, 6, 30)),
        (date(1900, 1, 1), date(1900, 12, 31)),
    ]:
        for limit in (200, 7):
            a = lake.domain_analysis(start, end, limit).model_dump(mode="json")
            b = postgres.domain_analysis(start, end, limit).model_dump(mode="json")
            differences += _same(a, b, f"domains {start}..{end} limit {limit}")
            checked += 1
    now = datetime.now(UTC)
    for hours_back in (1, 24, 168):
        a = lake.system_performance(hours_back, now).model_dump(mode="json")
        b = postgres.system_performance(hours_back, now).model_dump(mode="json")
        differences += _same(a, b, f"system {hours_back} h")
        checked += 1
    assert differences == [], differences[:20]
    assert checked == 23

    # the requests answered something: not a comparison of empty answers
    everything = lake.performance_summary(first, last).summary
    assert everything.total_pages > 1000 and everything.total_sessions > 10
    assert everything.unique_domains > 10 and everything.avg_quality > 0
    domains = lake.domain_analysis(date(1990, 1, 1), date(2030, 12, 31), 200).domains
    assert len(domains) > 10 and {d.domain_category for d in domains} >= {"commercial"}
    few_years = lake.domain_analysis(date(2012, 3, 15), date(2016, 8, 2), 200).domains
    assert few_years and few_years != domains[: len(few_years)]
    assert lake.system_performance(168, now).performance_metrics
    empty = lake.performance_summary(date(1990, 1, 1), date(1990, 12, 31)).model_dump()
    assert empty["daily_trends"] == [] and all(v == 0 for v in empty["summary"].values())
    no_quality = lake.quality_distribution(date(1990, 1, 1), date(1990, 1, 2))
    assert [b.count for b in no_quality.distribution] == [0] * 5
    assert no_quality.total_analyzed == 0


def test_summary_figures_against_a_hand_computation_from_the_marts(
    built_warehouse: Warehouse, services: tuple[AnalyticsService, AnalyticsService]
) -> None:
    """The summary is not the seed's: sessions and domains are distinct ones, not rows, and
    the averages weigh pages, not days. Recomputed here from the page-level mart."""
    lake, _ = services
    first, last, project = _span(built_warehouse)
    row = LakeBackend(built_warehouse.lake_root).lake.query(
        """
        select
            count(distinct scrape_session_id), count(distinct domain_id),
            count(*) filter (where extraction_status != 'pending'),
            avg(content_quality_score),
            avg(total_processing_time_ms),
            count(*) filter (where extraction_status = 'failed') * 100.0
                / count(*) filter (where extraction_status != 'pending'),
            count(total_processing_time_ms) / (sum(total_processing_time_ms) / 60000.0)
        from content_analytics where project_id = ? and processing_date between ? and ?
        """,
        [project, first, last],
    )[0]
    summary = lake.performance_summary(first, last, project).summary
    assert (summary.total_sessions, summary.unique_domains, summary.total_pages) == row[:3]
    for got, expected in zip(
        (
            summary.avg_quality,
            summary.avg_processing_time,
            summary.avg_error_rate,
            summary.avg_processing_rate,
        ),
        row[3:],
        strict=True,
    ):
        assert math.isclose(got, expected, rel_tol=1e-9), (got, expected)
    # the project spans several sessions a day: the seed's count of project-day rows differs
    days = len(lake.performance_summary(first, last, project).daily_trends)
    assert summary.total_sessions != days


def test_python_hosts_and_categories_follow_the_warehouse_rules() -> None:
    categories = DomainCategories(PROJECT_ROOT / "seeds")
    assert url_host("HTTPS://WWW.Example.COM:8080/a") == "www.example.com"
    assert url_host("https://dave:p/w@h2.org/x") == "h2.org"
    assert url_host("https://a@b:c@host.net:8080/") == "host.net"
    assert url_host("http:/example.org./") == "example.org"
    assert url_host("https://[::1]:8080/x") == "[::1]"
    assert url_host("") is None
    assert categories.category("www.nasa.gov") == "government"
    assert categories.category("news.ox.ac.uk") == "educational"
    assert categories.category("example.org.au") == "nonprofit"
    assert categories.category("shop.com") == "commercial"
    assert categories.category("10.0.0.1") == "commercial"
    buckets = quality_buckets()
    assert [b.min_score for b in buckets] == [0.9, 0.7, 0.5, 0.3, 0.0]
    assert [b.rank for b in buckets if b.is_high_quality] == [1, 2]


@pytest.fixture(scope="module")
def client(
    services: tuple[AnalyticsService, AnalyticsService], built_warehouse: Warehouse
) -> TestClient:
    return TestClient(create_app(services[0], built_warehouse.lake_root))


@pytest.mark.parametrize(
    ("path", "parameter", "status"),
    [
        ("/api/v1/analytics/performance/summary?end_date=2024-01-01", "start_date", 422),
        ("/api/v1/analytics/performance/summary?start_date=2024-01-01", "end_date", 422),
        (
            "/api/v1/analytics/performance/summary?start_date=yesterday&end_date=2024-01-01",
            "start_date",
            422,
        ),
        (
            "/api/v1/analytics/performance/summary?start_date=2024-02-30&end_date=2024-03-01",
            "start_date",
            422,
        ),
        (
            "/api/v1/analytics/performance/summary?start_date=20240101&end_date=2024-03-01",
            "start_date",
            422,
        ),
        (
            "/api/v1/analytics/performance/summary?start_date=2024-02-01&end_date=2024-01-01",
            "start_date",
            422,
        ),
        (
            "/api/v1/analytics/performance/summary?start_date=2000-01-01&end_date=2024-01-01",
            "end_date",
            422,
        ),
        (
            "/api/v1/analytics/performance/summary?start_date=2024-01-01&end_date=2024-01-02&project_id=abc",
            "project_id",
            422,
        ),
        (
            "/api/v1/analytics/performance/summary?start_date=2024-01-01&end_date=2024-01-02&project_id=1.5",
            "project_id",
            422,
        ),
        (
            "/api/v1/analytics/performance/summary?start_date=2024-01-01&end_date=2024-01-02&project_id=99999999999",
            "project_id",
            422,
        ),
        (
            "/api/v1/analytics/performance/summary?start_date=2024-01-01&end_date=2024-01-02&projectid=1",
            "projectid",
            400,
        ),
        (
            "/api/v1/analytics/performance/summary?start_date=2024-01-01&start_date=2024-01-02&end_date=2024-01-03",
            "start_date",
            400,
        ),
        (
            "/api/v1/analytics/domains/analysis?start_date=2024-01-01&end_date=2024-01-02&limit=0",
            "limit",
            422,
        ),
        (
            "/api/v1/analytics/domains/analysis?start_date=2024-01-01&end_date=2024-01-02&limit=201",
            "limit",
            422,
        ),
        (
            "/api/v1/analytics/domains/analysis?start_date=2024-01-01&end_date=2024-01-02&limit=ten",
            "limit",
            422,
        ),
        (
            "/api/v1/analytics/domains/analysis?start_date=1800-01-01&end_date=2024-01-02",
            "end_date",
            422,
        ),
        ("/api/v1/analytics/content/quality-distribution?start_date=2024-01-01", "end_date", 422),
        (
            "/api/v1/analytics/content/quality-distribution?start_date=2024-01-01&end_date=2024-01-02&x=1",
            "x",
            400,
        ),
        ("/api/v1/analytics/system/performance?hours_back=0", "hours_back", 422),
        ("/api/v1/analytics/system/performance?hours_back=169", "hours_back", 422),
        ("/api/v1/analytics/system/performance?hours_back=1;drop table x", "hours_back", 422),
        ("/api/v1/health?verbose=1", "verbose", 400),
    ],
)
def test_bad_requests_are_refused_naming_the_parameter(
    client: TestClient, path: str, parameter: str, status: int
) -> None:
    response = client.get(path)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["parameter"] == parameter and parameter in body["detail"], body


def test_endpoints_answer_and_document_themselves(
    client: TestClient, built_warehouse: Warehouse
) -> None:
    first, last, project = _span(built_warehouse)
    for path in (
        f"/api/v1/analytics/performance/summary?start_date={first}&end_date={last}&project_id={project}",
        "/api/v1/analytics/domains/analysis?start_date=1990-01-01&end_date=2030-01-01&limit=3",
        f"/api/v1/analytics/content/quality-distribution?start_date={first}&end_date={last}",
        "/api/v1/analytics/system/performance?hours_back=48",
        "/api/v1/health",
    ):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
    health = client.get("/api/v1/health").json()
    assert health["status"] == "ok" and "project_performance_daily" in health["marts"]
    assert health["marts"]["content_analytics"]["watermark"] is not None
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    summary = spec["components"]["schemas"]["PerformanceTotals"]["properties"]
    assert "Distinct scrape sessions" in summary["total_sessions"]["description"]


WRITER_RUNS = 6


def test_requests_during_commits_read_one_snapshot_and_never_fail(
    built_warehouse: Warehouse, tmp_path: Path
) -> None:
    """A real server (uvicorn, the lake backend) answers 4 concurrent clients while dbt
    commits WRITER_RUNS full refreshes of the marts they read (3 snapshots a run, superseded
    files vacuumed after 3 s): no request fails and every answer equals the answer before
    the commits (the data does not change, only the files)."""
    env = {**built_warehouse.env(), "CHRONO_LAKE_RETENTION_SECONDS": "3"}
    service = AnalyticsService(LakeBackend(built_warehouse.lake_root))
    first, last, project = _span(built_warehouse)
    paths = [
        f"/api/v1/analytics/performance/summary?start_date={first}&end_date={last}",
        f"/api/v1/analytics/performance/summary?start_date={first}&end_date={last}"
        f"&project_id={project}",
        f"/api/v1/analytics/content/quality-distribution?start_date={first}&end_date={last}",
    ]
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(service, built_warehouse.lake_root),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    expected = {path: httpx.get(base + path).json() for path in paths}
    stop = threading.Event()
    answers: list[tuple[str, int, Any]] = []

    def client(number: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            step = number
            while not stop.is_set():
                path = paths[step % len(paths)]
                step += 1
                try:
                    response = http.get(path)
                    answers.append((path, response.status_code, response.json()))
                except Exception as exc:
                    answers.append((path, -1, repr(exc)))
                time.sleep(0.02)

    clients = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(4)]
    for thread in clients:
        thread.start()
    try:
        writer = subprocess.run(
            [sys.executable, str(HERE / "api_writer_loop.py"), str(WRITER_RUNS), str(tmp_path)],
            env={**env, "PYTHONPATH": os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])},
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=30)
        server.should_exit = True
        serving.join(timeout=30)
    assert writer.returncode == 0, writer.stdout[-3000:] + writer.stderr[-3000:]
    commits = [json.loads(line) for line in writer.stdout.splitlines() if line.startswith("{")]
    assert len(commits) == WRITER_RUNS
    assert len({c["content_quality_daily"] for c in commits}) == WRITER_RUNS  # new snapshots
    failures = [a for a in answers if a[1] != 200]
    assert failures == [], failures[:5]
    assert len(answers) >= 50, len(answers)
    wrong = [(path, body) for path, _, body in answers if body != expected[path]]
    assert wrong == [], wrong[:3]
