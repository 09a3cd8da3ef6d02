{#- One row per scrape page with everything the page marts derive from it: its domain's
    project and owner, the parsed URL, archive source, calendar parts, categories and flags.
    Each derivation is a macro or a seed lookup and lives here only; the marts select and
    cast. The host's public-suffix split and domain category are added on top of this view
    by int_scrape_pages_with_domain_parts, which only cdx_records reads.

    A view (the folder's default): an incremental run of a mart filters it on
    scrape_page_id (a list of ids), which DuckDB pushes down to PostgreSQL, so its cost
    follows the delta; a mart that selects no body measure (cdx_records) ships no page body. Each mart that selects a
    body measure makes DuckDB ship and measure the bodies again: content_analytics holds them,
    so other consumers should read them there. -#}

{#- No CTE here is read twice: DuckDB materializes such a CTE, and a materialized CTE anywhere in
    a query stops it from pruning unused columns, so every query on this view (even count(*))
    would ship and measure every page body (a view does not keep a `not materialized` hint).
    The lookup joined twice (mime_content_categories) is therefore ref()'d in its joins
    instead of through an import CTE. -#}
with

scrape_pages as (
    select * from {{ ref('stg_chrono__scrape_pages') }}
),

domains as (
    select * from {{ ref('stg_chrono__domains') }}
),

projects as (
    select * from {{ ref('stg_chrono__projects') }}
),

page_statuses as (
    select * from {{ ref('page_statuses') }}
),

error_categories as (
    select * from {{ ref('error_categories') }}
),

archive_hosts as (
    select * from {{ ref('archive_hosts') }}
),

-- left joins: a page whose domain (or the domain's project) is missing keeps its row, with
-- NULL project and owner, rather than vanishing from the marts
pages_with_project as (
    select
        scrape_pages.*,
        domains.project_id,
        projects.user_id,
        projects.archive_source as project_archive_source
    from scrape_pages
    left join domains on scrape_pages.domain_id = domains.domain_id
    left join projects on domains.project_id = projects.project_id
),

urls_without_scheme as (
    select
        *,
        {{ url_scheme('original_url') }} as url_scheme,
        {{ url_after_scheme('original_url') }} as original_url_after_scheme,
        {{ url_after_scheme('content_url') }} as content_url_after_scheme
    from pages_with_project
),

url_authorities as (
    select
        *,
        {{ url_authority('original_url_after_scheme') }} as original_url_authority,
        {{ url_authority('content_url_after_scheme') }} as content_url_authority
    from urls_without_scheme
),

url_parts as (
    select
        *,
        {{ url_host('original_url_authority') }} as domain,  -- noqa: RF04
        {{ url_path('original_url_after_scheme', 'original_url_authority') }} as url_path,
        {{ url_query('original_url_after_scheme', 'original_url_authority') }} as url_params,
        {{ url_host('content_url_authority') }} as content_host,
        {{ url_path('content_url_after_scheme', 'content_url_authority') }} as content_url_path
    from url_authorities
),

lookups as (
    select
        url_parts.*,
        exact_mime.content_category as exact_content_category,
        family_mime.content_category as family_content_category,
        page_statuses.extraction_status,
        page_statuses.filter_decision,
        page_statuses.status_filter_reason,
        error_categories.error_category as matched_error_category,
        archive_hosts.archive_source as host_archive_source,
        {{ has_error('url_parts.error_type', 'url_parts.error_message') }} as has_error
    from url_parts
    left join {{ ref('mime_content_categories') }} as exact_mime
        on url_parts.mime_type = exact_mime.mime_type
    left join {{ ref('mime_content_categories') }} as family_mime
        on {{ mime_type_family('url_parts.mime_type') }} = family_mime.mime_type
    left join page_statuses
        on url_parts.page_status = page_statuses.page_status
    left join error_categories
        on url_parts.error_type = error_categories.error_type
    left join archive_hosts
        on url_parts.content_host = archive_hosts.host
),

enriched as (
    select
        -- ids
        scrape_page_id,
        domain_id,
        project_id,
        user_id,
        scrape_session_id,
        cast(scrape_session_id as varchar) as processing_batch_id,

        -- URL of the page
        original_url,
        url_scheme,
        domain,
        url_path,
        url_params,
        {{ url_file_extension('url_path') }} as file_extension,
        {{ url_depth('url_path') }} as url_depth,
        url_params is not null as has_query_params,
        {{ is_root_path('url_path') }} as is_root_page,

        -- archive
        content_url,
        content_host,
        {{ archive_source('host_archive_source', 'project_archive_source') }} as source,  -- noqa: RF04
        {{ warc_filename(archive_source('host_archive_source', 'project_archive_source'), 'content_url_path') }}
            as warc_filename,
        wayback_timestamp,
        archived_at,
        {{ utc_date('archived_at') }} as archive_date,
        {{ epoch_seconds('archived_at') }} as archive_timestamp,
        {{ utc_part('year', 'archived_at') }} as archive_year,
        {{ utc_part('month', 'archived_at') }} as archive_month,
        {{ utc_part('day', 'archived_at') }} as archive_day,
        {{ utc_part('hour', 'archived_at') }} as archive_hour,
        {{ utc_part('dow', 'archived_at') }} as archive_weekday,
        digest_hash,

        -- content
        mime_type,
        content_type,
        {{ content_category('exact_content_category', 'family_content_category', 'mime_type') }}
            as content_category,
        status_code,
        content_length_bytes,
        {{ content_size_category('content_length_bytes') }} as content_size_category,
        is_pdf,

        -- extraction and body measures
        page_status,
        extraction_status,
        extraction_method,
        title,
        coalesce(nullif(trim(title), '') is not null, false) as has_title,
        text_length_chars,
        markdown_length_chars,
        word_count,
        paragraph_count,
        {{ has_meaningful_content('text_length_chars', 'word_count') }} as has_meaningful_content,

        -- filtering
        filter_decision,
        {{ filter_reason('filter_reason', 'status_filter_reason') }} as filter_reason,
        filter_category,
        filter_confidence,
        is_duplicate,
        is_list_page,
        is_manually_overridden,

        -- quality
        priority_score,
        {{ quality_score('priority_score') }} as quality_score,
        {{ is_high_value_content('priority_score') }} as is_high_value_content,

        -- errors and retries
        error_type,
        error_message,
        {{ error_category('matched_error_category', 'has_error') }} as error_category,
        has_error,
        {{ is_recoverable_error('has_error', 'retry_count', 'max_retries') }} as is_recoverable_error,
        retry_count,
        max_retries,

        -- durations
        fetch_time_ms,
        extraction_time_ms,
        total_processing_time_ms,

        -- processing calendar: when the page entered the pipeline (created_at, UTC); NULL
        -- when created_at is NULL or infinite
        {{ utc_date(finite_or_null('created_at')) }} as processing_date,
        {{ utc_part('year', finite_or_null('created_at')) }} as processing_year,
        {{ utc_part('month', finite_or_null('created_at')) }} as processing_month,
        {{ utc_part('week', finite_or_null('created_at')) }} as processing_week,

        -- timestamps
        first_seen_at,
        last_attempt_at,
        completed_at,
        created_at,
        updated_at
    from lookups
)

select * from enriched
