with source as (
    select * from {{ source('chrono', 'projects') }}
),

renamed as (
    select
        id as project_id,
        user_id,
        {{ mask_personal_data('name') }} as project_name,
        {{ mask_personal_data('description') }} as project_description,
        {{ normalize_enum('status') }} as project_status,
        {{ normalize_enum('langextract_provider') }} as langextract_provider,
        {{ normalize_enum('archive_source') }} as archive_source,
        langextract_estimated_cost_per_1k as langextract_cost_per_1k_pages_usd,
        is_active,
        process_documents as is_processing_documents,
        enable_attachment_download as is_attachment_download_enabled,
        langextract_enabled as is_langextract_enabled,
        {{ source_timestamp('created_at') }} as created_at,
        {{ source_timestamp('updated_at') }} as updated_at
    from source
)

select * from renamed
