-- Per archive year (NULL: malformed Wayback timestamp), cdx_records has as many rows, as many
-- distinct pages and the same total content length as the staged source pages whose capture
-- falls in that year. Returns the years that disagree.
with staged_pages as (
    select * from {{ ref('stg_chrono__scrape_pages') }}
),

cdx_records as (
    select * from {{ ref('cdx_records') }}
),

staged_per_year as (
    select
        extract(year from archived_at at time zone 'UTC') as archive_year,
        count(*) as page_count,
        count(distinct scrape_page_id) as distinct_pages,
        coalesce(sum(content_length_bytes), 0) as content_length_bytes
    from staged_pages
    group by extract(year from archived_at at time zone 'UTC')
),

cdx_per_year as (
    select
        archive_year,
        count(*) as page_count,
        count(distinct record_id) as distinct_pages,
        coalesce(sum(content_length), 0) as content_length_bytes
    from cdx_records
    group by archive_year
)

select
    staged_per_year.page_count as staged_page_count,
    cdx_per_year.page_count as cdx_page_count,
    staged_per_year.content_length_bytes as staged_content_length_bytes,
    cdx_per_year.content_length_bytes as cdx_content_length_bytes,
    coalesce(staged_per_year.archive_year, cdx_per_year.archive_year) as archive_year
from staged_per_year
full outer join cdx_per_year
    on staged_per_year.archive_year is not distinct from cdx_per_year.archive_year
where
    staged_per_year.page_count is distinct from cdx_per_year.page_count
    or staged_per_year.distinct_pages is distinct from cdx_per_year.distinct_pages
    or staged_per_year.content_length_bytes is distinct from cdx_per_year.content_length_bytes
