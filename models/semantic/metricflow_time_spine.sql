{{ config(materialized='view') }}
{#- One row per calendar day from 1990-01-01 to 2049-12-31 (21,915 rows): the day-level time
    spine MetricFlow requires. A view computed on read, so it takes no storage, is never stale
    and does not live in the Parquet lake. -#}

with

days as (
    select cast(range as date) as date_day
    from range(date '1990-01-01', date '2050-01-01', interval 1 day)
)

select date_day from days
