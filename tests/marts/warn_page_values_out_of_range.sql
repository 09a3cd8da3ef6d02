{{ config(severity='warn') }}
{#- Source values no column of the marts can hold, stored as NULL (never an error): a status
    code outside SMALLINT, a priority outside 0..10, a duration whose milliseconds are not a
    finite BIGINT, a URL with more than 32,767 path segments. One row per page and column. -#}

with

staged as (
    select
        scrape_page_id,
        status_code,
        priority_score,
        fetch_time_ms,
        extraction_time_ms,
        total_processing_time_ms
    from {{ ref('stg_chrono__scrape_pages') }}
),

source_durations as (
    select
        id,
        fetch_time,
        extraction_time,
        total_processing_time
    from {{ source('chrono', 'scrape_pages') }}
),

records as (
    select
        record_id,
        url_depth
    from {{ ref('cdx_records') }}
),

out_of_range as (
    select
        scrape_page_id,
        'status_code' as column_name
    from staged
    where status_code not between -32768 and 32767
    union all
    select
        scrape_page_id,
        'priority_score' as column_name
    from staged
    where priority_score not between 0 and 10
    union all
    select
        staged.scrape_page_id,
        'durations' as column_name
    from staged
    inner join source_durations on staged.scrape_page_id = source_durations.id
    where
        (source_durations.fetch_time is not null and staged.fetch_time_ms is null)
        or (source_durations.extraction_time is not null and staged.extraction_time_ms is null)
        or (
            source_durations.total_processing_time is not null
            and staged.total_processing_time_ms is null
        )
    union all
    select
        record_id as scrape_page_id,
        'url_depth' as column_name
    from records
    where url_depth is null
)

select * from out_of_range
