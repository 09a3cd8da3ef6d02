{{ config(severity='warn') }}
{#- Pages whose timestamps no clock could have written: updated_at or created_at NULL,
    infinite, past DuckDB's range (loaded as NULL, see source_timestamp) or in the future,
    created_at before 2000, updated_at before created_at. They are loaded all the same
    (incremental runs re-read the rows whose updated_at no time comparison can place, every
    run); this test names them, one row per page and reason. It reads the source table, as
    staging nulls the values past DuckDB's range. -#}

with

pages as (
    select
        id as scrape_page_id,
        created_at,
        updated_at
    from {{ source('chrono', 'scrape_pages') }}
),

reasons as (
    select
        scrape_page_id,
        case
            when updated_at is null then 'updated_at is NULL'
            when not isfinite(updated_at) then 'updated_at is infinite'
            when {{ is_wrapped_source_timestamp('updated_at') }} then 'updated_at is past DuckDB''s range (294247-01-10), loaded as NULL'
            when updated_at > now() then 'updated_at is in the future'
            when created_at is null then 'created_at is NULL'
            when not isfinite(created_at) then 'created_at is infinite'
            when {{ is_wrapped_source_timestamp('created_at') }} then 'created_at is past DuckDB''s range (294247-01-10), loaded as NULL'
            when created_at > now() then 'created_at is in the future'
            when created_at < timestamptz '2000-01-01 00:00:00+00' then 'created_at is before 2000'
            when updated_at < created_at then 'updated_at is before created_at'
        end as reason
    from pages
)

select * from reasons
where reason is not null
