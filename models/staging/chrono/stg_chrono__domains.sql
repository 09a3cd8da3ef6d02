with source as (
    select * from {{ source('chrono', 'domains') }}
),

renamed as (
    select
        id as domain_id,
        project_id,
        {{ mask_personal_data('domain_name', is_url=true) }} as domain_name,
        {{ normalize_enum('match_type') }} as match_type,
        {{ mask_personal_data('url_path') }} as url_path,
        {{ normalize_enum('status') }} as domain_status,
        total_pages,
        scraped_pages,
        failed_pages,
        duplicate_pages,
        list_pages_filtered,
        incremental_enabled as is_incremental_enabled,
        {{ source_timestamp('created_at') }} as created_at,
        {{ source_timestamp('updated_at') }} as updated_at
    from source
)

select * from renamed
