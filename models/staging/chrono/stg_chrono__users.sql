with source as (
    select * from {{ source('chrono', 'users') }}
),

renamed as (
    select
        id as user_id,
        {{ normalize_enum('approval_status') }} as approval_status,
        {{ mask_personal_data("nullif(trim(academic_affiliation), '')") }} as academic_affiliation,
        is_active,
        is_verified,
        {{ source_timestamp('created_at') }} as created_at,
        {{ source_timestamp('updated_at') }} as updated_at
    from source
)

select * from renamed
