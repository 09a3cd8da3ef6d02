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
        {{ source_timestamp('started_at') }} as started_at,
        {{ source_timestamp('completed_at') }} as completed_at,
        {{ source_timestamp('created_at') }} as created_at,
        {{ source_timestamp('updated_at') }} as updated_at
    from source
)

select * from renamed
