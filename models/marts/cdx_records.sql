{{ config(
    partition_by=[
        {'name': 'processing_year', 'data_type': 'integer'},
        {'name': 'processing_month', 'data_type': 'integer'},
    ],
    unique_key='record_id',
    recompute={'column': 'scrape_page_id', 'values': 'page_ids_to_recompute', 'inline': true},
    watermark='source_clock',
    record_changes=['processing_date', 'domain', ['domain', 'archive_date']],
    order_by=['archive_date', 'domain'],
    row_group_size=20000,
    max_file_rows=25000,
) }}
{#- One row per scrape page, keyed by record_id (= scrape_page_id). Stored by processing
    month (the UTC month of created_at, which never changes), so the changes of a run land in
    the newest files, in files of 25,000 rows at most: a run rewrites each file holding a
    change, and its memory follows the largest such file, so a month that grows with the
    source is split (consecutive ranges of the sort order) instead (bench/README.md: 10,000
    changed pages peaked at 644 MB at 3,000,000 pages with one file per month, 584 MB with
    this bound, 504-510 MB at 1,000,000; the analysts' queries within the run-to-run noise).
    Inside each file the rows are sorted by archive_date then domain, in row groups of 20,000
    rows, so a filter on either skips row groups by their statistics. Every derivation lives in int_scrape_pages_enriched (the host's public-suffix
    split and domain category in int_scrape_pages_with_domain_parts, the view over it read
    here); this model selects and casts to the contract's types (a value out of a type's range becomes NULL).
    An incremental run rebuilds the pages page_ids_to_recompute names (changed since the
    watermark, of changed domains and projects, deleted from or missing in the mart): the
    materialization filters this model on them, a filter DuckDB pushes down to PostgreSQL. -#}

with

enriched_pages as (
    select * from {{ ref('int_scrape_pages_with_domain_parts') }}
),

cdx_records as (
    select
        -- ids
        cast(scrape_page_id as bigint) as record_id,
        cast(scrape_page_id as bigint) as scrape_page_id,
        cast(project_id as integer) as project_id,
        cast(domain_id as integer) as domain_id,

        -- strings
        cast(original_url as varchar) as original_url,
        cast(domain as varchar) as domain,  -- noqa: RF04
        cast(subdomain as varchar) as subdomain,
        cast(url_path as varchar) as url_path,
        cast(url_params as varchar) as url_params,
        cast(source as varchar) as source,  -- noqa: RF04
        cast(warc_filename as varchar) as warc_filename,
        cast(mime_type as varchar) as mime_type,
        cast(content_category as varchar) as content_category,
        cast(content_size_category as varchar) as content_size_category,
        cast(digest_hash as varchar) as digest_hash,
        cast(file_extension as varchar) as file_extension,
        cast(domain_tld as varchar) as domain_tld,
        cast(domain_category as varchar) as domain_category,
        cast(processing_batch_id as varchar) as processing_batch_id,
        cast(filter_reason as varchar) as filter_reason,
        cast(filter_category as varchar) as filter_category,

        -- numerics
        cast(processing_year as integer) as processing_year,
        cast(processing_month as integer) as processing_month,
        cast(archive_timestamp as bigint) as archive_timestamp,
        cast(archive_year as smallint) as archive_year,
        cast(archive_month as smallint) as archive_month,
        cast(archive_day as smallint) as archive_day,
        cast(archive_hour as smallint) as archive_hour,
        cast(archive_weekday as smallint) as archive_weekday,
        cast(null as bigint) as warc_offset,
        cast(null as integer) as warc_length,
        {{ smallint_or_null('status_code') }} as status_code,
        cast(content_length_bytes as bigint) as content_length,
        {{ smallint_or_null('url_depth') }} as url_depth,
        cast(quality_score as double) as quality_score,
        {{ smallint_or_null('priority_score') }} as priority_score,
        cast(fetch_time_ms as bigint) as fetch_time_ms,
        cast(extraction_time_ms as bigint) as extraction_time_ms,
        cast(total_processing_time_ms as bigint) as total_processing_time_ms,

        -- booleans
        cast(has_query_params as boolean) as has_query_params,
        cast(is_root_page as boolean) as is_root_page,
        cast(is_list_page as boolean) as is_list_page_pattern,
        cast(is_government_domain as boolean) as is_government_domain,
        cast(is_educational_domain as boolean) as is_educational_domain,
        cast(is_nonprofit_domain as boolean) as is_nonprofit_domain,
        cast(is_duplicate as boolean) as is_duplicate,
        cast(is_high_value_content as boolean) as is_high_value_content,

        -- dates
        cast(archive_date as date) as archive_date,
        cast(processing_date as date) as processing_date,

        -- timestamps
        cast(created_at as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at
    from enriched_pages
)

select * from cdx_records
