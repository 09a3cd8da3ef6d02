"""The analytics service: the four questions of the Chrono Scraper dashboards, answered from
the lake (``LakeBackend``: the reporting marts, one committed snapshot each, no lock) or, as the
rollback path, from the PostgreSQL source itself (``PostgresBackend``, as the warehouse's
read-only role).

Both backends return the same raw aggregates (counts and exact sums); ``AnalyticsService``
validates the request and turns the aggregates into the figures of the response models
(``schemas``), so that every figure is computed in one place, whatever the backend.
No SQL is built from request text: the statements are fixed and every value is bound.
"""

from __future__ import annotations

import csv
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import yaml  # type: ignore[import-untyped,unused-ignore]

from chrono_analytics.api import schemas
from chrono_analytics.api.hosts import DomainCategories, url_host
from chrono_analytics.config import Settings, project_root

MAX_RANGE_DAYS = 3660
"""The longest date range (inclusive days) the performance and quality endpoints accept."""
MAX_DOMAIN_RANGE_DAYS = 36600
"""The longest date range the domain analysis accepts (archive dates span decades)."""
MIN_DOMAIN_RECORDS = 10
DEFAULT_DOMAIN_LIMIT = 50
MAX_DOMAIN_LIMIT = 200
DEFAULT_HOURS_BACK = 24
MAX_HOURS_BACK = 168
MAX_ID = 2_147_483_647


class RequestError(ValueError):
    """A request the service refuses: `parameter` names what was wrong."""

    def __init__(self, parameter: str | None, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.message = message


class BackendUnavailable(RuntimeError):
    """The backend cannot answer now (no mart yet, source down): a 503, not the client's fault."""


# -- the definitions both backends share -----------------------------------------------------


@dataclass(frozen=True)
class QualityBucketDef:
    rank: int
    label: str
    min_score: float
    is_high_quality: bool
    is_low_quality: bool


def quality_buckets(root: Path | None = None) -> list[QualityBucketDef]:
    """The quality buckets of the project var quality_buckets (dbt_project.yml), best first:
    the one definition the models and this service read."""
    text = ((root or project_root()) / "dbt_project.yml").read_text()
    entries = yaml.safe_load(text)["vars"]["quality_buckets"]
    buckets = [
        QualityBucketDef(
            rank=int(e["rank"]),
            label=str(e["label"]),
            min_score=float(e["min_score"]),
            is_high_quality=bool(e["is_high_quality"]),
            is_low_quality=bool(e["is_low_quality"]),
        )
        for e in entries
    ]
    return sorted(buckets, key=lambda b: b.rank)


def page_statuses(root: Path | None = None) -> dict[str, str]:
    """page status -> extraction status, from the seed page_statuses.csv."""
    path = (root or project_root()) / "seeds" / "page_statuses.csv"
    with open(path, newline="") as file:
        return {row["page_status"]: row["extraction_status"] for row in csv.DictReader(file)}


# -- raw aggregates ---------------------------------------------------------------------------


@dataclass
class DayTotals:
    """Counts and exact sums of one processing day (or of a whole range)."""

    discovered: int = 0
    processed: int = 0
    failed: int = 0
    scored: int = 0
    quality_tenths: int = 0  # sum of priority_score over scored pages (quality * 10)
    high_quality: int = 0
    low_quality: int = 0
    timed: int = 0
    time_ms: int = 0
    cost: float = 0.0

    def add(self, other: DayTotals) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class PerformanceRaw:
    days: dict[date, DayTotals] = field(default_factory=dict)
    sessions: int = 0
    domains: int = 0


@dataclass(frozen=True)
class DomainRaw:
    domain: str
    domain_category: str
    records: int
    scored: int
    quality_tenths: int
    sized: int
    size_sum: int
    high_value: int
    months: int
    timed: int
    time_ms: int

    @property
    def avg_quality(self) -> float | None:
        return self.quality_tenths / (10 * self.scored) if self.scored else None

    def sort_key(self) -> tuple[float, int, str, str]:
        quality = self.avg_quality
        return (
            -(quality if quality is not None else -1.0),
            -self.high_value,
            self.domain,
            self.domain_category,
        )


@dataclass(frozen=True)
class BucketRaw:
    rank: int
    pages: int
    pages_with_words: int
    words: int


@dataclass(frozen=True)
class HourRaw:
    hour: datetime
    component: str
    events: int
    errors: int
    avg_duration_ms: float | None
    avg_memory_mb: float | None
    avg_cpu_percent: float | None


class Backend(Protocol):
    name: str

    def performance(self, start: date, end: date, project_id: int | None) -> PerformanceRaw: ...

    def domains(
        self, start_month: date, end_month: date, limit: int, min_records: int
    ) -> list[DomainRaw]: ...

    def quality(self, start: date, end: date) -> list[BucketRaw]: ...

    def system(self, first_hour: datetime, last_hour: datetime) -> list[HourRaw]: ...

    def source_health(self) -> dict[str, Any] | None: ...


# -- the lake ----------------------------------------------------------------------------------

_LAKE_PERFORMANCE = """
with days as (
    select
        analytics_date,
        pages_discovered as discovered,
        pages_processed as processed,
        pages_failed as failed,
        scored_pages as scored,
        cast(quality_score_sum * 10 as bigint) as quality_tenths,
        high_quality_pages as high_quality,
        low_quality_pages as low_quality,
        timed_pages as timed,
        processing_time_ms_sum as time_ms,
        estimated_processing_cost_usd as cost
    from {days_mart}
    where analytics_date between $start and $end {project_filter}
),
members as (
    select project_id, member_kind, member_id, first_date, last_date
    from project_members
    where first_date <= $end and last_date >= $start {project_filter}
),
straddling as (
    select project_id, member_kind, member_id from members
    where first_date < $start or last_date > $end
),
in_range as (
    select member_kind, member_id from members
    where first_date >= $start and last_date <= $end
    union
    select activity.member_kind, activity.member_id
    from project_activity_daily as activity
    semi join straddling
        on activity.project_id = straddling.project_id
        and activity.member_kind = straddling.member_kind
        and activity.member_id = straddling.member_id
    where activity.analytics_date between $start and $end
),
counts as (
    select
        count(*) filter (where member_kind = 'session') as sessions,
        count(*) filter (where member_kind = 'domain') as domains
    from in_range
)
select
    counts.sessions, counts.domains, days.analytics_date, days.discovered, days.processed,
    days.failed, days.scored, days.quality_tenths, days.high_quality, days.low_quality,
    days.timed, days.time_ms, days.cost
from counts
left join days on true
order by days.analytics_date
"""

_LAKE_DOMAINS = """
with summary as (
    select * from domain_archive_summary
    where first_archive_month <= $end and last_archive_month >= $start
),
covered as (
    select
        domain, domain_category, record_count, scored_records,
        cast(quality_score_sum * 10 as bigint) as quality_tenths, sized_records,
        content_length_sum, high_value_count, active_months, timed_extractions,
        extraction_time_ms_sum
    from summary
    where first_archive_month >= $start and last_archive_month <= $end
        and record_count >= $min_records
),
partly_covered as (
    select domain, domain_category from summary
    where not (first_archive_month >= $start and last_archive_month <= $end)
        and record_count >= $min_records
),
monthly as (
    select
        monthly.domain, monthly.domain_category,
        sum(monthly.record_count) as record_count,
        sum(monthly.scored_records) as scored_records,
        cast(sum(monthly.quality_score_sum) * 10 as bigint) as quality_tenths,
        sum(monthly.sized_records) as sized_records,
        sum(monthly.content_length_sum) as content_length_sum,
        sum(monthly.high_value_count) as high_value_count,
        count(*) as active_months,
        sum(monthly.timed_extractions) as timed_extractions,
        sum(monthly.extraction_time_ms_sum) as extraction_time_ms_sum
    from domain_archive_monthly as monthly
    semi join partly_covered
        on monthly.domain = partly_covered.domain
        and monthly.domain_category = partly_covered.domain_category
    where monthly.archive_month_start between $start and $end
    group by monthly.domain, monthly.domain_category
    having sum(monthly.record_count) >= $min_records
),
candidates as (
    select * from covered
    union all
    select * from monthly
)
select
    domain, domain_category, record_count, scored_records, quality_tenths, sized_records,
    cast(coalesce(content_length_sum, 0) as bigint), high_value_count, active_months,
    timed_extractions, cast(coalesce(extraction_time_ms_sum, 0) as bigint)
from candidates
order by
    case when scored_records > 0
        then cast(quality_tenths as double) / cast(10 * scored_records as double)
        else -1.0 end desc,
    high_value_count desc, domain, domain_category
limit $limit
"""

_LAKE_QUALITY = """
select
    quality_bucket_rank,
    sum(page_count),
    sum(pages_with_words),
    sum(total_word_count)
from content_quality_daily
where processing_date between $start and $end
group by quality_bucket_rank
"""

_LAKE_SYSTEM = """
select
    hour_at, source_component, event_count, error_count, avg_duration_ms,
    avg_memory_usage_mb, avg_cpu_usage_percent
from system_performance_hourly
where hour_at between $first and $last
order by hour_at desc, source_component
"""

LAKE_MARTS = (
    "performance_daily",
    "project_performance_daily",
    "project_members",
    "project_activity_daily",
    "domain_archive_summary",
    "domain_archive_monthly",
    "content_quality_daily",
    "system_performance_hourly",
)


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


class LakeBackend:
    """Reads the reporting marts through the lake's read entry point. Each request is one
    statement, so it reads one committed snapshot of each mart it names, whatever commits
    while it runs."""

    name = "lake"

    def __init__(self, root: str | Path) -> None:
        from chrono_analytics.lake.reader import Lake

        # the lake's connection caches Parquet footers across queries (Lake.new_connection)
        self.lake = Lake(root)

    def _query(self, sql: str, parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
        import duckdb

        try:
            cursor = self.lake.cursor()
        except Exception as exc:  # the lake folder unreadable
            raise BackendUnavailable(f"the lake at {self.lake.root} cannot be read: {exc}") from exc
        try:
            return cursor.execute(sql, parameters).fetchall()
        except duckdb.CatalogException as exc:
            missing = [m for m in LAKE_MARTS if m not in self.lake.marts()]
            raise BackendUnavailable(
                f"the lake at {self.lake.root} has no mart {', '.join(missing) or '?'} yet: run "
                "'dbt build' or 'chrono-analytics sync'"
            ) from exc
        finally:
            cursor.close()

    def performance(self, start: date, end: date, project_id: int | None) -> PerformanceRaw:
        parameters: dict[str, Any] = {"start": start, "end": end}
        # all projects: one row per day (performance_daily); one project: its rows of
        # project_performance_daily (sorted by project, in small row groups)
        days_mart, project_filter = "performance_daily", ""
        if project_id is not None:
            days_mart, project_filter = "project_performance_daily", "and project_id = $project_id"
            parameters["project_id"] = project_id
        rows = self._query(
            _LAKE_PERFORMANCE.format(days_mart=days_mart, project_filter=project_filter),
            parameters,
        )
        # one row per day, each carrying the range's distinct counts; one row of NULL days
        # when the range has none
        raw = PerformanceRaw(sessions=_int(rows[0][0]), domains=_int(rows[0][1]))
        names = list(DayTotals.__dataclass_fields__)[:9]
        for row in rows:
            if row[2] is None:
                continue
            figures = DayTotals(**{n: _int(v) for n, v in zip(names, row[3:12], strict=True)})
            figures.cost = float(row[12] or 0.0)
            raw.days[row[2]] = figures
        return raw

    def domains(
        self, start_month: date, end_month: date, limit: int, min_records: int
    ) -> list[DomainRaw]:
        rows = self._query(
            _LAKE_DOMAINS,
            {"start": start_month, "end": end_month, "limit": limit, "min_records": min_records},
        )
        return [DomainRaw(*(r[:2]), *(_int(v) for v in r[2:])) for r in rows]

    def quality(self, start: date, end: date) -> list[BucketRaw]:
        rows = self._query(_LAKE_QUALITY, {"start": start, "end": end})
        return [BucketRaw(int(r[0]), _int(r[1]), _int(r[2]), _int(r[3])) for r in rows]

    def system(self, first_hour: datetime, last_hour: datetime) -> list[HourRaw]:
        rows = self._query(_LAKE_SYSTEM, {"first": first_hour, "last": last_hour})
        return [
            HourRaw(r[0].astimezone(UTC), r[1], _int(r[2]), _int(r[3]), r[4], r[5], r[6])
            for r in rows
        ]

    def source_health(self) -> dict[str, Any] | None:
        return None


# -- PostgreSQL -------------------------------------------------------------------------------

_PG_PAGES = """
with statuses as (
    select * from unnest(%(statuses)s::text[], %(extraction)s::text[])
        as s (page_status, extraction_status)
),
pages as (
    select
        domains.project_id,
        pages.domain_id,
        pages.scrape_session_id,
        (pages.created_at at time zone 'UTC')::date as day,
        statuses.extraction_status,
        case when pages.priority_score between 0 and 10 then pages.priority_score end
            as priority,
        case
            when pages.total_processing_time is not null
                and pages.total_processing_time not in ('NaN', 'Infinity', '-Infinity')
                and abs(pages.total_processing_time) < 9e12
                then round((pages.total_processing_time * 1000)::numeric)::bigint
        end as time_ms,
        projects.langextract_enabled,
        projects.langextract_estimated_cost_per_1k
    from scrape_pages as pages
    inner join domains on pages.domain_id = domains.id
    inner join projects on domains.project_id = projects.id
    left join statuses on nullif(lower(trim(pages.status)), '') = statuses.page_status
    where pages.created_at >= %(start)s and pages.created_at < %(end)s
        and pages.created_at not in ('infinity', '-infinity')
        {project_filter}
)
"""

_PG_PERFORMANCE_DAYS = (
    _PG_PAGES
    + """
, per_project as (
    select
        day,
        project_id,
        count(*) as discovered,
        count(*) filter (where extraction_status <> 'pending') as processed,
        count(*) filter (where extraction_status = 'failed') as failed,
        count(priority) as scored,
        coalesce(sum(priority), 0) as quality_tenths,
        count(*) filter (where priority::float8 / 10 >= %(high_min)s) as high_quality,
        count(*) filter (where priority::float8 / 10 < %(low_below)s) as low_quality,
        count(time_ms) as timed,
        coalesce(sum(time_ms), 0) as time_ms,
        bool_or(langextract_enabled) as langextract_enabled,
        max(langextract_estimated_cost_per_1k) as cost_per_1k
    from pages
    group by day, project_id
)
select
    day, sum(discovered), sum(processed), sum(failed), sum(scored), sum(quality_tenths),
    sum(high_quality), sum(low_quality), sum(timed), sum(time_ms),
    sum(case when langextract_enabled
        then processed * coalesce(cost_per_1k, 0) / 1000.0 else 0 end)
from per_project
group by day
order by day
"""
)

_PG_PERFORMANCE_MEMBERS = (
    _PG_PAGES
    + """
select count(distinct scrape_session_id), count(distinct domain_id) from pages
"""
)

_PG_DOMAINS = """
select
    case
        when strpos(original_url, '@') = 0
            then substring(original_url from '^[^/\\\\]*[/\\\\]*[^/?#\\\\]*')
        else original_url
    end as url_key,
    substr(unix_timestamp, 1, 6) as archive_month,
    count(*),
    count(*) filter (where priority_score between 0 and 10),
    coalesce(sum(priority_score) filter (where priority_score between 0 and 10), 0),
    count(content_length),
    coalesce(sum(content_length), 0),
    count(*) filter (where priority_score between 8 and 10),
    count(extraction_ms),
    coalesce(sum(extraction_ms), 0)
from (
    select
        original_url,
        unix_timestamp,
        priority_score,
        content_length,
        case
            when extraction_time is not null
                and extraction_time not in ('NaN', 'Infinity', '-Infinity')
                and abs(extraction_time) < 9e12
                then round((extraction_time * 1000)::numeric)::bigint
        end as extraction_ms
    from scrape_pages
    where unix_timestamp ~ '^[0-9]{14}$'
        and substr(unix_timestamp, 1, 6) between %(start)s and %(end)s
        and case
            when substr(unix_timestamp, 5, 2) between '01' and '12'
                and substr(unix_timestamp, 7, 2) >= '01'
                and substr(unix_timestamp, 9, 2) < '24'
                and substr(unix_timestamp, 11, 2) < '60'
                and substr(unix_timestamp, 13, 2) < '60'
                then substr(unix_timestamp, 7, 2)::int <= extract(day from
                    to_date(substr(unix_timestamp, 1, 6) || '01', 'YYYYMMDD')
                    + interval '1 month' - interval '1 day')
            else false
        end
) as dated
group by 1, 2
"""

_PG_QUALITY = """
select
    bucket,
    count(*),
    count(words),
    coalesce(sum(words), 0)
from (
    select
        case {bucket_cases} end as bucket,
        case
            when extracted_text is null then null
            when extracted_text ~ '^[ \\t\\n\\r\\f\\v]*$' then 0
            else array_length(regexp_split_to_array(
                btrim(extracted_text, e' \\t\\n\\r\\f' || chr(11)), '[ \\t\\n\\r\\f\\v]+'), 1)
        end as words
    from scrape_pages
    where created_at >= %(start)s and created_at < %(end)s
        and created_at not in ('infinity', '-infinity')
        and priority_score between 0 and 10
) as scored
group by bucket
"""

_RAW_EVENTS_SYSTEM = """
with raw as (
    select * from read_parquet($glob, hive_partitioning = false, union_by_name = true)
),
events as (
    select
        source_component,
        nullif(lower(trim(event_type)), '') as event_type,
        nullif(lower(trim(event_severity)), '') as event_severity,
        cast(event_timestamp as timestamptz) as event_timestamp,
        cast(duration_ms as double) as duration_ms,
        cast(memory_usage_mb as double) as memory_usage_mb,
        cast(cpu_usage_percent as double) as cpu_usage_percent
    from raw
    qualify row_number() over (partition by event_id order by created_at nulls last) = 1
),
hourly as (
    select
        date_trunc('hour', timezone('UTC', event_timestamp)) as hour_utc,
        source_component,
        count(*) as event_count,
        count(*) filter (where event_severity in ('error', 'critical')) as error_count,
        avg(duration_ms) filter (where event_type in ('system_metric', 'performance')),
        avg(memory_usage_mb) filter (where event_type in ('system_metric', 'performance')),
        avg(cpu_usage_percent) filter (where event_type in ('system_metric', 'performance'))
    from events
    where event_timestamp >= $first and event_timestamp < $after_last
    group by all
)
select * from hourly order by hour_utc desc, source_component
"""


class PostgresBackend:
    """Computes the answers from the source tables in PostgreSQL, as the warehouse's
    read-only role (the rollback path: no lake, no dbt). Events have no table in PostgreSQL:
    the system performance is computed from the raw event files the loaders write (not from
    the events mart), so it also stands apart from dbt."""

    name = "postgres"

    def __init__(self, dsn: str, events_root: Path, root: Path | None = None) -> None:
        self.dsn = dsn
        self.events_root = events_root
        self.buckets = quality_buckets(root)
        statuses = page_statuses(root)
        self._statuses = list(statuses)
        self._extraction = [statuses[s] for s in self._statuses]
        self.categories = DomainCategories((root or project_root()) / "seeds")
        self._local = threading.local()

    def _connection(self) -> Any:
        import psycopg2

        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            try:
                conn = psycopg2.connect(self.dsn, connect_timeout=5)
            except psycopg2.OperationalError as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
                raise BackendUnavailable(f"PostgreSQL does not answer: {reason}") from exc
            conn.set_session(readonly=True, autocommit=True)
            self._local.conn = conn
        return conn

    def _query(self, sql: str, parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
        import psycopg2

        try:
            with self._connection().cursor() as cursor:
                cursor.execute(sql, parameters)
                return list(cursor.fetchall())
        except psycopg2.OperationalError as exc:
            self._local.conn = None
            raise BackendUnavailable(f"PostgreSQL query failed: {exc}".strip()) from exc

    @staticmethod
    def _day_bounds(start: date, end: date) -> dict[str, datetime]:
        return {
            "start": datetime(start.year, start.month, start.day, tzinfo=UTC),
            "end": datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1),
        }

    def performance(self, start: date, end: date, project_id: int | None) -> PerformanceRaw:
        parameters: dict[str, Any] = {
            **self._day_bounds(start, end),
            "statuses": self._statuses,
            "extraction": self._extraction,
            "high_min": min(b.min_score for b in self.buckets if b.is_high_quality),
            "low_below": min(b.min_score for b in self.buckets if not b.is_low_quality),
        }
        project_filter = ""
        if project_id is not None:
            project_filter = "and domains.project_id = %(project_id)s"
            parameters["project_id"] = project_id
        days = self._query(_PG_PERFORMANCE_DAYS.format(project_filter=project_filter), parameters)
        members = self._query(
            _PG_PERFORMANCE_MEMBERS.format(project_filter=project_filter), parameters
        )
        raw = PerformanceRaw(sessions=_int(members[0][0]), domains=_int(members[0][1]))
        for row in days:
            names = list(DayTotals.__dataclass_fields__)[:9]
            figures = DayTotals(**{n: _int(v) for n, v in zip(names, row[1:10], strict=True)})
            figures.cost = float(row[10] or 0.0)
            raw.days[row[0]] = figures
        return raw

    def domains(
        self, start_month: date, end_month: date, limit: int, min_records: int
    ) -> list[DomainRaw]:
        rows = self._query(
            _PG_DOMAINS,
            {"start": start_month.strftime("%Y%m"), "end": end_month.strftime("%Y%m")},
        )
        sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * 8)
        months: dict[tuple[str, str], set[str]] = defaultdict(set)
        for url_key, month, *values in rows:
            host = url_host(url_key)
            if host is None:
                continue
            key = (host, self.categories.category(host))
            total = sums[key]
            for i, value in enumerate(values):
                total[i] += _int(value)
            months[key].add(month)
        found = [
            DomainRaw(
                domain,
                category,
                s[0],
                s[1],
                s[2],
                s[3],
                s[4],
                s[5],
                len(months[(domain, category)]),
                s[6],
                s[7],
            )
            for (domain, category), s in sums.items()
            if s[0] >= min_records
        ]
        return sorted(found, key=DomainRaw.sort_key)[:limit]

    def quality(self, start: date, end: date) -> list[BucketRaw]:
        cases = (
            " ".join(
                f"when priority_score::float8 / 10 >= %(min_{b.rank})s then {b.rank}"
                for b in self.buckets[:-1]
            )
            + f" else {self.buckets[-1].rank}"
        )
        parameters: dict[str, Any] = {
            **self._day_bounds(start, end),
            **{f"min_{b.rank}": b.min_score for b in self.buckets},
        }
        rows = self._query(_PG_QUALITY.format(bucket_cases=cases), parameters)
        return [BucketRaw(int(r[0]), _int(r[1]), _int(r[2]), _int(r[3])) for r in rows]

    def system(self, first_hour: datetime, last_hour: datetime) -> list[HourRaw]:
        import duckdb

        pattern = str(self.events_root / "**" / "*.parquet")
        with duckdb.connect() as conn:
            if not conn.execute("select count(*) from glob($g)", {"g": pattern}).fetchone()[0]:  # type: ignore[index]
                return []
            rows = conn.execute(
                _RAW_EVENTS_SYSTEM,
                {
                    "glob": pattern,
                    "first": first_hour,
                    "after_last": last_hour + timedelta(hours=1),
                },
            ).fetchall()
        return [
            HourRaw(r[0].replace(tzinfo=UTC), r[1], _int(r[2]), _int(r[3]), r[4], r[5], r[6])
            for r in rows
        ]

    def source_health(self) -> dict[str, Any] | None:
        try:
            self._query("select 1", {})
        except BackendUnavailable as exc:
            return {"answers": False, "error": str(exc)}
        return {"answers": True}


# -- the service ---------------------------------------------------------------------------------


def _check_range(start: date, end: date, maximum: int) -> None:
    if start > end:
        raise RequestError("start_date", f"start_date {start} is after end_date {end}")
    days = (end - start).days + 1
    if days > maximum:
        raise RequestError(
            "end_date",
            f"end_date {end} is {days:,} days from start_date {start}; the maximum range is "
            f"{maximum:,} days",
        )


def _rate(pages: int, time_ms: int) -> float:
    return pages / (time_ms / 60000.0) if time_ms > 0 else 0.0


class AnalyticsService:
    """Validates requests and computes the response figures from a backend's aggregates."""

    def __init__(self, backend: Backend, settings: Settings | None = None) -> None:
        self.backend = backend
        self.settings = settings
        self.buckets = quality_buckets()

    def performance_summary(
        self, start_date: date, end_date: date, project_id: int | None = None
    ) -> schemas.PerformanceSummary:
        _check_range(start_date, end_date, MAX_RANGE_DAYS)
        if project_id is not None and not 1 <= project_id <= MAX_ID:
            raise RequestError("project_id", f"project_id must be 1 .. {MAX_ID}, got {project_id}")
        raw = self.backend.performance(start_date, end_date, project_id)
        total = DayTotals()
        trends = []
        for day in sorted(raw.days):
            figures = raw.days[day]
            total.add(figures)
            trends.append(
                schemas.DailyTrend(
                    analytics_date=day,
                    daily_pages=figures.processed,
                    daily_pages_discovered=figures.discovered,
                    daily_rate=_rate(figures.timed, figures.time_ms),
                    daily_quality=(
                        figures.quality_tenths / (10 * figures.scored) if figures.scored else 0.0
                    ),
                    daily_error_rate=(
                        figures.failed * 100 / figures.processed if figures.processed else 0.0
                    ),
                )
            )
        return schemas.PerformanceSummary(
            start_date=start_date,
            end_date=end_date,
            project_id=project_id,
            summary=schemas.PerformanceTotals(
                total_sessions=raw.sessions,
                total_pages=total.processed,
                total_pages_discovered=total.discovered,
                total_pages_failed=total.failed,
                avg_processing_rate=_rate(total.timed, total.time_ms),
                avg_quality=total.quality_tenths / (10 * total.scored) if total.scored else 0.0,
                avg_error_rate=total.failed * 100 / total.processed if total.processed else 0.0,
                total_cost=total.cost,
                unique_domains=raw.domains,
                avg_processing_time=total.time_ms / total.timed if total.timed else 0.0,
                high_quality_pages=total.high_quality,
                low_quality_pages=total.low_quality,
            ),
            daily_trends=trends,
        )

    def domain_analysis(
        self, start_date: date, end_date: date, limit: int = DEFAULT_DOMAIN_LIMIT
    ) -> schemas.DomainAnalysis:
        _check_range(start_date, end_date, MAX_DOMAIN_RANGE_DAYS)
        if not 1 <= limit <= MAX_DOMAIN_LIMIT:
            raise RequestError("limit", f"limit must be 1 .. {MAX_DOMAIN_LIMIT}, got {limit}")
        start_month, end_month = start_date.replace(day=1), end_date.replace(day=1)
        rows = self.backend.domains(start_month, end_month, limit, MIN_DOMAIN_RECORDS)
        return schemas.DomainAnalysis(
            start_month=start_month,
            end_month=end_month,
            min_records=MIN_DOMAIN_RECORDS,
            domains=[
                schemas.DomainRow(
                    domain=r.domain,
                    domain_category=r.domain_category,
                    total_records=r.records,
                    avg_quality=r.avg_quality,
                    avg_content_size=r.size_sum / r.sized if r.sized else None,
                    high_value_count=r.high_value,
                    active_months=r.months,
                    avg_extraction_time=r.time_ms / r.timed if r.timed else None,
                )
                for r in rows
            ],
        )

    def quality_distribution(self, start_date: date, end_date: date) -> schemas.QualityDistribution:
        _check_range(start_date, end_date, MAX_RANGE_DAYS)
        found = {b.rank: b for b in self.backend.quality(start_date, end_date)}
        total = sum(b.pages for b in found.values())
        distribution = []
        for bucket in self.buckets:
            raw = found.get(bucket.rank, BucketRaw(bucket.rank, 0, 0, 0))
            distribution.append(
                schemas.QualityBucket(
                    quality_bucket=bucket.label,
                    bucket_rank=bucket.rank,
                    count=raw.pages,
                    percentage=raw.pages * 100 / total if total else 0.0,
                    avg_words=raw.words / raw.pages_with_words if raw.pages_with_words else 0.0,
                )
            )
        return schemas.QualityDistribution(
            start_date=start_date,
            end_date=end_date,
            distribution=distribution,
            total_analyzed=total,
        )

    def system_performance(
        self, hours_back: int = DEFAULT_HOURS_BACK, now: datetime | None = None
    ) -> schemas.SystemPerformance:
        if not 1 <= hours_back <= MAX_HOURS_BACK:
            raise RequestError(
                "hours_back", f"hours_back must be 1 .. {MAX_HOURS_BACK}, got {hours_back}"
            )
        clock = (now or datetime.now(UTC)).astimezone(UTC)
        last_hour = clock.replace(minute=0, second=0, microsecond=0)
        first_hour = last_hour - timedelta(hours=hours_back - 1)
        rows = self.backend.system(first_hour, last_hour)
        return schemas.SystemPerformance(
            performance_metrics=[
                schemas.HourlyComponent(
                    hour=r.hour,
                    source_component=r.component,
                    event_count=r.events,
                    error_count=r.errors,
                    avg_response_time=r.avg_duration_ms,
                    avg_memory=r.avg_memory_mb,
                    avg_cpu=r.avg_cpu_percent,
                )
                for r in rows
            ],
            time_range=schemas.TimeRange(start=first_hour, end=clock),
        )

    def health(self, lake_root: Path) -> schemas.Health:
        from chrono_analytics import sync
        from chrono_analytics.config import load_settings

        settings = self.settings or load_settings()
        if settings.lake_root != lake_root:
            settings = _with_lake_root(settings, lake_root)
        found = sync.status(settings)
        marts = {
            name: schemas.MartHealth(
                version=entry["version"],
                committed_at=entry["committed_at"],
                watermark=entry.get("watermark"),
                lag_seconds=entry.get("lag_seconds"),
            )
            for name, entry in found["marts"].items()
        }
        return schemas.Health(
            status="ok" if marts else "empty",
            backend=self.backend.name,
            sync_running=bool(found["running"]),
            last_sync_success=found["last_success"],
            marts=marts,
            source=self.backend.source_health(),
        )


def _with_lake_root(settings: Settings, lake_root: Path) -> Settings:
    from dataclasses import replace

    return replace(settings, lake_root=lake_root)


def make_backend(kind: str, settings: Settings) -> Backend:
    if kind == "lake":
        return LakeBackend(settings.lake_root)
    if kind == "postgres":
        return PostgresBackend(settings.pg_dsn, settings.events_root)
    raise ValueError(f"unknown backend {kind!r}: choose lake or postgres")


__all__: Sequence[str] = (
    "AnalyticsService",
    "BackendUnavailable",
    "LakeBackend",
    "PostgresBackend",
    "RequestError",
    "make_backend",
)
