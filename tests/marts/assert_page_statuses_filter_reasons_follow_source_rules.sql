-- The seed page_statuses implies the filter reasons the application defines: filtered_list_page ->
-- 'list_page', filtered_already_processed -> 'duplicate', skipped -> 'skipped', every other
-- filtered_* -> the text after 'filtered_'; statuses that are not filtered imply none, and
-- every filtered status has extraction status and filter decision 'filtered'. Returns the
-- rows that break the rule.
with page_statuses as (
    select * from {{ ref('page_statuses') }}
),

expected as (
    select
        page_status,
        status_filter_reason,
        extraction_status,
        filter_decision,
        case
            when page_status = 'filtered_list_page' then 'list_page'
            when page_status = 'filtered_already_processed' then 'duplicate'
            when page_status = 'skipped' then 'skipped'
            when page_status = 'manually_skipped' then 'manually_skipped'
            when starts_with(page_status, 'filtered_') then substr(page_status, length('filtered_') + 1)
        end as expected_reason
    from page_statuses
)

select *
from expected
where
    status_filter_reason is distinct from expected_reason
    or ((expected_reason is not null) != (extraction_status = 'filtered'))
    or ((expected_reason is not null) != (filter_decision = 'filtered'))
