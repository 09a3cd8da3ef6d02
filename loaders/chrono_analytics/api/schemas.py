"""The API's response models: every figure is defined here once (its description is the
definition the OpenAPI docs at /docs show) and computed the same way by both backends."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field


class PerformanceTotals(BaseModel):
    total_sessions: int = Field(
        description="Distinct scrape sessions that have pages in the range (pages of the "
        "project, when one is given). Not the number of project-day rows."
    )
    total_pages: int = Field(
        description="Pages processed: pages of the range whose extraction status is not "
        "'pending' (success, failed, partial or filtered)."
    )
    total_pages_discovered: int = Field(description="Every page of the range.")
    total_pages_failed: int = Field(description="Pages whose extraction failed.")
    avg_processing_rate: float = Field(
        description="Pages per minute of processing time: pages with a total processing "
        "time divided by the sum of their processing times in minutes (the throughput of one "
        "worker; 0 when no page has a time)."
    )
    avg_quality: float = Field(
        description="Average content_quality_score (priority_score / 10) over the pages of "
        "the range that have one, each page weighing the same (0 when none has one)."
    )
    avg_error_rate: float = Field(
        description="Failed pages * 100 / processed pages, over the whole range (a percentage; "
        "0 when nothing was processed)."
    )
    total_cost: float = Field(
        description="Estimated LLM extraction cost in USD: processed pages * the project's "
        "langextract cost per 1,000 pages / 1,000, for projects with langextract enabled."
    )
    unique_domains: int = Field(
        description="Distinct domains that have pages in the range (of the project, when one "
        "is given); counted over the range, not summed over days."
    )
    avg_processing_time: float = Field(
        description="Average total processing time in milliseconds over the pages that have "
        "one, each page weighing the same (0 when none has one)."
    )
    high_quality_pages: int = Field(
        description="Pages whose quality falls in a high-quality bucket (score >= 0.7)."
    )
    low_quality_pages: int = Field(
        description="Pages whose quality falls in a low-quality bucket (score < 0.3)."
    )


class DailyTrend(BaseModel):
    analytics_date: date = Field(description="Processing day (UTC date of the page's created_at).")
    daily_pages: int = Field(description="Pages processed of the day (as total_pages).")
    daily_pages_discovered: int = Field(description="Pages of the day.")
    daily_rate: float = Field(
        description="Pages per minute of processing time, of the day (as avg_processing_rate)."
    )
    daily_quality: float = Field(
        description="Average quality score of the day's scored pages (as avg_quality)."
    )
    daily_error_rate: float = Field(
        description="Failed * 100 / processed pages of the day (as avg_error_rate)."
    )


class PerformanceSummary(BaseModel):
    start_date: date = Field(description="First processing day of the range (inclusive).")
    end_date: date = Field(description="Last processing day of the range (inclusive).")
    project_id: int | None = Field(description="The project the figures are limited to, if any.")
    summary: PerformanceTotals
    daily_trends: list[DailyTrend] = Field(
        description="One entry per processing day of the range that has pages, in date order."
    )


class DomainRow(BaseModel):
    domain: str = Field(description="Host of the archived URL (lower-cased, no port).")
    domain_category: str = Field(
        description="government, educational, nonprofit or commercial, from the public suffix."
    )
    total_records: int = Field(description="CDX records of the domain in the months of the range.")
    avg_quality: float | None = Field(
        description="Average quality_score (priority_score / 10) of the records that have one; "
        "null when none has."
    )
    avg_content_size: float | None = Field(
        description="Average content_length in bytes of the records that have one; null when "
        "none has."
    )
    high_value_count: int = Field(description="Records with priority_score above 7.")
    active_months: int = Field(
        description="Archive months of the range with records of the domain."
    )
    avg_extraction_time: float | None = Field(
        description="Average extraction time in milliseconds of the records that have one; null "
        "when none has."
    )


class DomainAnalysis(BaseModel):
    start_month: date = Field(
        description="First archive month read: the month of start_date (the range is read in "
        "whole archive months)."
    )
    end_month: date = Field(description="Last archive month read: the month of end_date.")
    min_records: int = Field(description="Domains with fewer records in the range are left out.")
    domains: list[DomainRow] = Field(
        description="At most `limit` domains, best average quality first, then most "
        "high-value records, then by domain name."
    )


class QualityBucket(BaseModel):
    quality_bucket: str = Field(description="Label of the bucket, e.g. 'Excellent (0.9-1.0)'.")
    bucket_rank: int = Field(description="1 (best) to 5; the order of the list.")
    count: int = Field(description="Pages of the range in the bucket.")
    percentage: float = Field(
        description="count * 100 / total_analyzed (0 when the range has no scored page)."
    )
    avg_words: float = Field(
        description="Average word count of the bucket's pages that have extracted text (0 "
        "when none has)."
    )


class QualityDistribution(BaseModel):
    start_date: date = Field(description="First processing day of the range (inclusive).")
    end_date: date = Field(description="Last processing day of the range (inclusive).")
    distribution: list[QualityBucket] = Field(
        description="Every bucket, best first, also those with no page."
    )
    total_analyzed: int = Field(description="Pages of the range that have a quality score.")


class HourlyComponent(BaseModel):
    hour: datetime = Field(description="Start of the UTC hour.")
    source_component: str = Field(description="Component that emitted the events.")
    event_count: int = Field(description="Events of the component in the hour (every type).")
    error_count: int = Field(
        description="Events with severity 'error' or 'critical', whatever their type."
    )
    avg_response_time: float | None = Field(
        description="Average duration_ms of the hour's system_metric and performance events; "
        "null when none has one."
    )
    avg_memory: float | None = Field(
        description="Average memory_usage_mb of those events; null when none has one."
    )
    avg_cpu: float | None = Field(
        description="Average cpu_usage_percent of those events; null when none has one."
    )


class TimeRange(BaseModel):
    start: datetime = Field(description="Start of the first hour read (UTC).")
    end: datetime = Field(description="The time of the request (UTC).")


class SystemPerformance(BaseModel):
    performance_metrics: list[HourlyComponent] = Field(
        description="One entry per hour and component with events, latest hour first."
    )
    time_range: TimeRange


class MartHealth(BaseModel):
    version: int = Field(description="Version of the mart's current snapshot.")
    committed_at: str = Field(description="When that snapshot was committed (UTC, ISO 8601).")
    watermark: str | None = Field(
        description="The source time the mart is complete up to (null for marts that take "
        "no watermark)."
    )
    lag_seconds: float | None = Field(description="Seconds from the watermark to now.")


class Health(BaseModel):
    status: str = Field(description="'ok', or 'empty' when the lake has no mart yet.")
    backend: str = Field(description="'lake' or 'postgres': where the analytics are read from.")
    sync_running: bool = Field(description="Whether a sync loop runs on this lake now.")
    last_sync_success: str | None = Field(description="End of the last successful sync cycle.")
    marts: dict[str, MartHealth] = Field(description="Every mart of the lake, by name.")
    source: dict[str, Any] | None = Field(
        default=None, description="With the postgres backend: whether the source answers."
    )


class ErrorBody(BaseModel):
    detail: str = Field(description="What was wrong, naming the parameter.")
    parameter: str | None = Field(description="The parameter at fault, if one is.")
