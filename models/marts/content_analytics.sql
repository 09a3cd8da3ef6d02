{{ config(
    partition_by=[
        {'name': 'processing_year', 'data_type': 'integer'},
        {'name': 'processing_month', 'data_type': 'integer'},
    ],
    unique_key='content_id',
    recompute={'column': 'scrape_page_id', 'values': 'page_ids_to_recompute', 'inline': true},
    watermark='source_clock',
    record_changes=['processing_date', 'domain', 'cdx_record_id'],
    order_by=['processing_date', 'domain'],
    max_file_rows=25000,
) }}
{#- One row per scrape page, keyed by content_id (= scrape_page_id); cdx_record_id joins to
    cdx_records.record_id. Stored by processing month (from created_at, which never changes),
    in files of 25,000 rows at most (so a run's rewrite of a file stays bounded: see
    cdx_records), rows sorted by processing_date. Every derivation lives in
    int_scrape_pages_enriched; this model selects and casts to the contract's types. It also carries the page's scrape session,
    status, completion time and archive source, so that project_analytics and the reporting
    models aggregate this mart alone. An incremental run rebuilds the pages
    page_ids_to_recompute names (see cdx_records). -#}

with

enriched_pages as (
    select * from {{ ref('int_scrape_pages_enriched') }}
),

content_analytics as (
    select
        -- ids
        cast(scrape_page_id as bigint) as content_id,
        cast(scrape_page_id as bigint) as scrape_page_id,
        cast(scrape_page_id as bigint) as cdx_record_id,
        cast(project_id as integer) as project_id,
        cast(domain_id as integer) as domain_id,
        cast(scrape_session_id as integer) as scrape_session_id,

        -- strings
        cast(original_url as varchar) as original_url,
        cast(content_url as varchar) as content_url,
        cast(domain as varchar) as domain,  -- noqa: RF04
        cast(mime_type as varchar) as mime_type,
        cast(content_type as varchar) as content_type,
        cast(content_category as varchar) as content_category,
        cast(extraction_method as varchar) as extraction_method,
        cast(extraction_status as varchar) as extraction_status,
        cast(error_type as varchar) as extraction_error_type,
        cast(null as varchar) as language,  -- noqa: RF04
        cast(filter_decision as varchar) as filter_decision,
        cast(filter_reason as varchar) as filter_reason,
        cast(error_message as varchar) as error_message,
        cast(error_category as varchar) as error_category,
        cast(page_status as varchar) as page_status,
        cast(source as varchar) as source,  -- noqa: RF04

        -- numerics
        cast(processing_year as integer) as processing_year,
        cast(processing_month as integer) as processing_month,
        cast(processing_week as smallint) as processing_week,
        cast(content_length_bytes as bigint) as original_size_bytes,
        cast(extraction_time_ms as bigint) as extraction_time_ms,
        cast(retry_count as integer) as extraction_retry_count,
        cast(text_length_chars as bigint) as text_content_length,
        cast(markdown_length_chars as bigint) as markdown_content_length,
        cast(word_count as bigint) as word_count,
        cast(paragraph_count as bigint) as paragraph_count,
        cast(quality_score as double) as content_quality_score,
        {{ quality_bucket_label(quality_bucket_rank('quality_score')) }} as quality_bucket,
        {{ is_high_quality('quality_score') }} as is_high_quality_content,
        cast(fetch_time_ms as bigint) as fetch_time_ms,
        cast(extraction_time_ms as bigint) as parse_time_ms,
        cast(total_processing_time_ms as bigint) as total_processing_time_ms,

        -- booleans
        cast(has_title as boolean) as title_extracted,
        cast(is_list_page as boolean) as is_list_page,
        cast(is_duplicate as boolean) as is_duplicate_content,
        cast(has_meaningful_content as boolean) as has_meaningful_content,
        cast(is_manually_overridden as boolean) as manual_override,
        cast(is_recoverable_error as boolean) as is_recoverable_error,

        -- dates
        cast(processing_date as date) as processing_date,

        -- timestamps
        cast(completed_at as timestamptz) as completed_at,
        cast(created_at as timestamptz) as processing_timestamp,
        cast(created_at as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at
    from enriched_pages
)

select * from content_analytics
