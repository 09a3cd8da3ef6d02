{#- Page bodies are not exposed: only their measures. Because this is a view, DuckDB ships a
    body from PostgreSQL only when a query uses one of its measures. The URLs and short text
    columns are masked (mask_personal_data: no URL user info, no credential query parameter,
    no e-mail address unless the var keep_personal_data is true); the bodies are not, as
    only their measures leave this model. -#}
with source as (
    select * from {{ source('chrono', 'scrape_pages') }}
),

renamed as (
    select
        -- ids
        id as scrape_page_id,
        domain_id,
        scrape_session_id,

        -- strings
        {{ mask_personal_data('original_url', is_url=true) }} as original_url,
        {{ mask_personal_data('content_url', is_url=true) }} as content_url,
        unix_timestamp as wayback_timestamp,
        mime_type as content_type,
        {{ mime_essence('mime_type') }} as mime_type,
        digest_hash,
        {{ mask_personal_data('title') }} as title,
        extraction_method,
        {{ mask_personal_data("nullif(trim(filter_reason), '')") }} as filter_reason,
        {{ normalize_enum('filter_category') }} as filter_category,
        {{ normalize_enum('status') }} as page_status,
        {{ mask_personal_data('error_message') }} as error_message,
        {{ normalize_enum('error_type') }} as error_type,

        -- numerics
        status_code,
        content_length as content_length_bytes,
        {{ text_length('extracted_text') }} as text_length_chars,
        {{ text_length('markdown_content') }} as markdown_length_chars,
        {{ word_count('extracted_text') }} as word_count,
        {{ paragraph_count('extracted_text') }} as paragraph_count,
        filter_confidence,
        priority_score,
        retry_count,
        max_retries,
        {{ seconds_to_ms('fetch_time') }} as fetch_time_ms,
        {{ seconds_to_ms('extraction_time') }} as extraction_time_ms,
        {{ seconds_to_ms('total_processing_time') }} as total_processing_time_ms,

        -- booleans
        is_pdf,
        is_duplicate,
        is_list_page,
        is_manually_overridden,

        -- timestamps (UTC)
        {{ parse_wayback_timestamp('unix_timestamp') }} as archived_at,
        {{ source_timestamp('first_seen_at') }} as first_seen_at,
        {{ source_timestamp('last_attempt_at') }} as last_attempt_at,
        {{ source_timestamp('completed_at') }} as completed_at,
        {{ source_timestamp('created_at') }} as created_at,
        {{ source_timestamp('updated_at') }} as updated_at
    from source
)

select * from renamed
