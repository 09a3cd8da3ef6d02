with source as (
    select * from {{ source('chrono', 'scrape_sessions') }}
),

renamed as (
    select
        id as scrape_session_id,
        project_id,
        {{ mask_personal_data('session_name') }} as session_name,
        {{ normalize_enum('status') }} as session_status,
        total_urls,
        completed_urls,
        failed_urls,
        cancelled_urls,
        started_at,
        completed_at,
        created_at,
        updated_at
    from source
)

select * from renamed
