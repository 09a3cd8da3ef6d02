-- Every source page is staged exactly once: same row count, same distinct ids.
with source_pages as (
    select
        count(*) as page_count,
        count(distinct id) as distinct_ids
    from {{ source('chrono', 'scrape_pages') }}
),

staged_pages as (
    select
        count(*) as page_count,
        count(distinct scrape_page_id) as distinct_ids
    from {{ ref('stg_chrono__scrape_pages') }}
)

select
    source_pages.page_count as source_page_count,
    staged_pages.page_count as staged_page_count
from source_pages
cross join staged_pages
where
    source_pages.page_count != staged_pages.page_count
    or source_pages.distinct_ids != staged_pages.distinct_ids
