{{ config(
    partition_by=[
        {'name': 'analytics_year', 'data_type': 'integer'},
        {'name': 'analytics_month', 'data_type': 'integer'},
    ],
    unique_key='analytics_id',
    recompute={'column': 'analytics_date', 'values': 'project_days_to_recompute', 'inline': true},
    watermark='source_clock',
    record_changes=['analytics_date'],
    order_by=['analytics_date', 'aggregation_level', 'project_id'],
) }}
{#- Daily aggregates of the scrape pages at three levels: per project, per domain and per
    scrape session. The day of a page is its processing_date (the UTC date of created_at, as
    in content_analytics), so the totals of a day reconcile with content_analytics. The pages
    are read from content_analytics (built earlier in the same run, every derivation already
    applied, word counts included); projects and domains give names and statuses.
    An incremental run recomputes every group of the days project_days_to_recompute names
    (the days content_analytics changed since this mart last read it, and the days holding
    pages of domains and projects changed since its watermark): the materialization filters
    this model on those days (the filter reaches the scan of content_analytics, sorted by
    processing_date) and replaces every stored row of those days, so groups a day lost (a
    domain moved away, its pages deleted) are deleted. -#}

with

content_analytics as (
    select
        content_id,
        project_id,
        domain_id,
        processing_date,
        extraction_status,
        is_duplicate_content,
        original_size_bytes,
        word_count,
        content_quality_score,
        total_processing_time_ms,
        fetch_time_ms,
        extraction_time_ms,
        extraction_retry_count,
        extraction_error_type,
        error_message,
        is_recoverable_error,
        scrape_session_id,
        page_status,
        completed_at,
        source,  -- noqa: RF04
        created_at,
        updated_at
    from {{ ref('content_analytics') }}
    -- an incremental run reads the days it recomputes only (a page counts on its
    -- processing_date, the analytics_date of its groups)
    where {{ recomputed_input('processing_date') }}
),

-- one row per page, under the names the aggregates below use
pages as (
    select
        content_analytics.content_id as scrape_page_id,
        content_analytics.project_id,
        content_analytics.domain_id,
        content_analytics.scrape_session_id,
        content_analytics.processing_date,
        content_analytics.page_status,
        content_analytics.extraction_status,
        content_analytics.is_duplicate_content as is_duplicate,
        content_analytics.original_size_bytes as content_length_bytes,
        content_analytics.word_count,
        content_analytics.content_quality_score as quality_score,
        content_analytics.total_processing_time_ms,
        content_analytics.fetch_time_ms,
        content_analytics.extraction_time_ms,
        content_analytics.completed_at,
        content_analytics.extraction_retry_count as retry_count,
        content_analytics.extraction_error_type as error_type,
        {{ has_error('content_analytics.extraction_error_type', 'content_analytics.error_message') }}
            as has_error,
        content_analytics.is_recoverable_error,
        content_analytics.source,  -- noqa: RF04
        content_analytics.created_at,
        content_analytics.updated_at
    from content_analytics
    -- a page without project (no domain, or an unknown one) has no project-level group
    where content_analytics.project_id is not null and content_analytics.processing_date is not null
),

projects as (
    select * from {{ ref('stg_chrono__projects') }}
),

domains as (
    select * from {{ ref('stg_chrono__domains') }}
),

-- the three levels are grouping sets of one pass over the pages (project, domain, session);
-- the session level skips pages without a session
error_type_counts as (
    select
        {{ aggregation_level() }} as aggregation_level,
        project_id,
        domain_id,
        scrape_session_id,
        processing_date,
        error_type,
        count(*) as error_pages
    from pages
    where error_type is not null
    {{ group_by_aggregation_levels(['processing_date', 'error_type']) }}
),

most_common_error_types as (
    select
        aggregation_level,
        project_id,
        domain_id,
        scrape_session_id,
        processing_date,
        -- ties go to the alphabetically first type, so the choice is deterministic
        arg_max(error_type, error_pages order by error_type desc) as most_common_error_type
    from error_type_counts
    group by all
),

daily as (
    select
        {{ aggregation_level() }} as aggregation_level,
        project_id,
        domain_id,
        scrape_session_id,
        processing_date as analytics_date,
        count(*) as total_pages_discovered,
        count(*) filter (where extraction_status != 'pending') as total_pages_processed,
        count(*) filter (where extraction_status = 'success') as total_pages_successful,
        count(*) filter (where extraction_status = 'failed') as total_pages_failed,
        count(*) filter (where extraction_status = 'filtered') as total_pages_skipped,
        count(*) filter (where is_duplicate) as total_pages_duplicates,
        sum(content_length_bytes) as total_content_size_bytes,
        avg(content_length_bytes) as avg_content_size_bytes,
        sum(word_count) as total_word_count,
        avg(word_count) as avg_word_count,
        -- averaged as an exact decimal: a double sum depends on the order of the rows, so a
        -- recomputed day would differ in the last bits and be rewritten with no change
        avg(cast(quality_score as decimal(18, 6))) as avg_content_quality_score,
        count(*) filter (where {{ is_high_quality('quality_score') }}) as high_quality_pages_count,
        count(*) filter (where {{ is_low_quality('quality_score') }}) as low_quality_pages_count,
        sum(total_processing_time_ms) as total_processing_time_ms,
        avg(total_processing_time_ms) as avg_processing_time_ms,
        avg(fetch_time_ms) as avg_fetch_time_ms,
        avg(extraction_time_ms) as avg_extraction_time_ms,
        count(completed_at) as completed_pages,
        epoch(max(completed_at) - min(completed_at)) / 60.0 as completion_span_minutes,
        avg(retry_count) as avg_retry_count,
        count(*) filter (where has_error and is_recoverable_error) as recoverable_errors,
        count(*) filter (where has_error and not is_recoverable_error) as unrecoverable_errors,
        count(*) filter (where page_status = 'filtered_list_page') as list_pages_filtered,
        count(*) filter (
            where page_status = 'filtered_already_processed'
        ) as duplicate_pages_filtered,
        count(*) filter (where source = 'wayback') as wayback_pages,
        count(*) filter (where source = 'commoncrawl') as common_crawl_pages,
        min(created_at) as created_at,
        max(updated_at) as updated_at
    from pages
    {{ group_by_aggregation_levels(['processing_date']) }}
),

described as (
    select
        daily.*,
        most_common_error_types.most_common_error_type,
        projects.user_id,
        projects.project_name,
        projects.project_status,
        projects.archive_source,
        projects.is_langextract_enabled as langextract_enabled,
        projects.langextract_cost_per_1k_pages_usd,
        domains.domain_name,
        domains.domain_status,
        domains.match_type as domain_match_type,
        md5(concat_ws(
            ':',
            daily.aggregation_level,
            daily.project_id,
            coalesce(cast(daily.domain_id as varchar), '-'),
            coalesce(cast(daily.scrape_session_id as varchar), '-'),
            cast(daily.analytics_date as varchar)
        )) as analytics_id
    from daily
    inner join projects on daily.project_id = projects.project_id
    left join domains on daily.domain_id = domains.domain_id
    left join most_common_error_types
        on
            daily.aggregation_level = most_common_error_types.aggregation_level
            and daily.project_id = most_common_error_types.project_id
            and daily.domain_id is not distinct from most_common_error_types.domain_id
            and daily.scrape_session_id is not distinct from most_common_error_types.scrape_session_id
            and daily.analytics_date = most_common_error_types.processing_date
),

project_analytics as (
    select
        -- ids
        cast(analytics_id as varchar) as analytics_id,
        cast(project_id as integer) as project_id,
        cast(domain_id as integer) as domain_id,
        cast(scrape_session_id as integer) as scrape_session_id,
        cast(user_id as integer) as user_id,

        -- strings
        cast(project_name as varchar) as project_name,
        cast(project_status as varchar) as project_status,
        cast(domain_name as varchar) as domain_name,
        cast(domain_status as varchar) as domain_status,
        cast(domain_match_type as varchar) as domain_match_type,
        cast(most_common_error_type as varchar) as most_common_error_type,
        cast(archive_source as varchar) as archive_source,
        cast(aggregation_level as varchar) as aggregation_level,

        -- numerics
        cast(year(analytics_date) as integer) as analytics_year,
        cast(month(analytics_date) as integer) as analytics_month,
        cast(weekofyear(analytics_date) as smallint) as analytics_week,
        cast(total_pages_discovered as bigint) as total_pages_discovered,
        cast(total_pages_processed as bigint) as total_pages_processed,
        cast(total_pages_successful as bigint) as total_pages_successful,
        cast(total_pages_failed as bigint) as total_pages_failed,
        cast(total_pages_skipped as bigint) as total_pages_skipped,
        cast(total_pages_duplicates as bigint) as total_pages_duplicates,
        cast(coalesce(total_content_size_bytes, 0) as bigint) as total_content_size_bytes,
        cast(avg_content_size_bytes as double) as avg_content_size_bytes,
        cast(coalesce(total_word_count, 0) as bigint) as total_word_count,
        cast(avg_word_count as double) as avg_word_count,
        cast(avg_content_quality_score as double) as avg_content_quality_score,
        cast(high_quality_pages_count as bigint) as high_quality_pages_count,
        cast(low_quality_pages_count as bigint) as low_quality_pages_count,
        cast(coalesce(total_processing_time_ms, 0) as bigint) as total_processing_time_ms,
        cast(avg_processing_time_ms as double) as avg_processing_time_ms,
        cast(avg_fetch_time_ms as double) as avg_fetch_time_ms,
        cast(avg_extraction_time_ms as double) as avg_extraction_time_ms,
        cast(
            case
                when completed_pages >= 2 and completion_span_minutes > 0
                    then completed_pages / completion_span_minutes
            end as double
        ) as pages_per_minute,
        cast(
            case
                when total_pages_processed > 0 then total_pages_failed / total_pages_processed
            end as double
        ) as error_rate,
        cast(avg_retry_count as double) as avg_retry_count,
        cast(recoverable_errors as bigint) as recoverable_errors,
        cast(unrecoverable_errors as bigint) as unrecoverable_errors,
        cast(list_pages_filtered as bigint) as list_pages_filtered,
        cast(duplicate_pages_filtered as bigint) as duplicate_pages_filtered,
        cast(wayback_pages as bigint) as wayback_pages,
        cast(common_crawl_pages as bigint) as common_crawl_pages,
        cast(
            case
                when langextract_enabled
                    then total_pages_processed * langextract_cost_per_1k_pages_usd / 1000.0
            end as double
        ) as estimated_processing_cost_usd,

        -- booleans
        cast(langextract_enabled as boolean) as langextract_enabled,

        -- dates
        cast(analytics_date as date) as analytics_date,

        -- timestamps
        cast(created_at as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at
    from described
)

select * from project_analytics
