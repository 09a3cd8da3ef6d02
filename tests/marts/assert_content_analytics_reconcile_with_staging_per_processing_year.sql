-- Per processing year (UTC year of created_at), content_analytics has as many rows, as many
-- distinct pages, the same total content length and the same total word count as the staged
-- source pages created in that year. Returns the years that disagree.
with staged_pages as (
    select * from {{ ref('stg_chrono__scrape_pages') }}
),

content_analytics as (
    select * from {{ ref('content_analytics') }}
),

staged_per_year as (
    select
        extract(year from created_at at time zone 'UTC') as processing_year,
        count(*) as page_count,
        count(distinct scrape_page_id) as distinct_pages,
        coalesce(sum(content_length_bytes), 0) as content_length_bytes,
        coalesce(sum(word_count), 0) as word_count
    from staged_pages
    group by extract(year from created_at at time zone 'UTC')
),

content_per_year as (
    select
        processing_year,
        count(*) as page_count,
        count(distinct content_id) as distinct_pages,
        coalesce(sum(original_size_bytes), 0) as content_length_bytes,
        coalesce(sum(word_count), 0) as word_count
    from content_analytics
    group by processing_year
)

select
    staged_per_year.page_count as staged_page_count,
    content_per_year.page_count as content_page_count,
    staged_per_year.content_length_bytes as staged_content_length_bytes,
    content_per_year.content_length_bytes as content_content_length_bytes,
    coalesce(staged_per_year.processing_year, content_per_year.processing_year) as processing_year
from staged_per_year
full outer join content_per_year
    on staged_per_year.processing_year is not distinct from content_per_year.processing_year
where
    staged_per_year.page_count is distinct from content_per_year.page_count
    or staged_per_year.distinct_pages is distinct from content_per_year.distinct_pages
    or staged_per_year.content_length_bytes is distinct from content_per_year.content_length_bytes
    or staged_per_year.word_count is distinct from content_per_year.word_count
