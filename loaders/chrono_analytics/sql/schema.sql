-- The Chrono Scraper source schema, as the application defines it: the columns analytics
-- needs, plus secret columns that must never leave PostgreSQL (filled with fake values so that
-- the allowlist is tested). Recreated from scratch by `chrono-analytics db seed`.
drop table if exists scrape_pages, scrape_sessions, domains, projects, users cascade;

create table users (
    id integer primary key,
    email varchar(255) not null unique,
    full_name varchar(255),
    is_active boolean not null default true,
    is_verified boolean not null default false,
    approval_status varchar(16) not null default 'pending',
    academic_affiliation varchar(255),
    hashed_password varchar(255) not null,
    email_verification_token varchar(255),
    mfa_secret varchar(64),
    mfa_backup_codes text,
    mfa_enabled boolean not null default false,
    created_at timestamptz not null,
    updated_at timestamptz not null
);

create table projects (
    id integer primary key,
    user_id integer not null references users (id),
    name varchar(200) not null,
    description text,
    status varchar(16) not null default 'no_index',
    is_active boolean not null default true,
    process_documents boolean not null default true,
    enable_attachment_download boolean not null default false,
    langextract_enabled boolean not null default false,
    langextract_provider varchar(20) not null default 'disabled',
    langextract_estimated_cost_per_1k double precision,
    archive_source varchar(20) not null default 'wayback',
    index_search_key varchar(255),
    index_search_key_uid varchar(255),
    created_at timestamptz not null,
    updated_at timestamptz not null
);

create table domains (
    id integer primary key,
    project_id integer not null references projects (id),
    domain_name varchar(255) not null,
    match_type varchar(16) not null default 'domain',
    url_path text,
    status varchar(16) not null default 'active',
    incremental_enabled boolean not null default false,
    total_pages integer not null default 0,
    scraped_pages integer not null default 0,
    failed_pages integer not null default 0,
    duplicate_pages integer not null default 0,
    list_pages_filtered integer not null default 0,
    created_at timestamptz not null,
    updated_at timestamptz not null
);

create table scrape_sessions (
    id integer primary key,
    project_id integer not null references projects (id),
    session_name varchar(255),
    status varchar(16) not null default 'pending',
    total_urls integer not null default 0,
    completed_urls integer not null default 0,
    failed_urls integer not null default 0,
    cancelled_urls integer not null default 0,
    started_at timestamptz,
    completed_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null
);

create table scrape_pages (
    id bigint primary key,
    domain_id integer not null references domains (id),
    scrape_session_id integer references scrape_sessions (id),
    original_url text not null,
    content_url text,
    unix_timestamp varchar(14),
    mime_type varchar(100),
    status_code integer,
    content_length integer,
    digest_hash varchar(32),
    title varchar(500),
    extracted_text text,
    markdown_content text,
    is_pdf boolean not null default false,
    is_duplicate boolean not null default false,
    is_list_page boolean not null default false,
    extraction_method varchar(50),
    filter_reason varchar(100),
    filter_category varchar(50),
    is_manually_overridden boolean not null default false,
    filter_confidence double precision,
    priority_score integer default 5,
    status varchar(30) not null default 'pending',
    error_message text,
    error_type varchar(100),
    retry_count integer not null default 0,
    max_retries integer not null default 3,
    fetch_time double precision,
    extraction_time double precision,
    total_processing_time double precision,
    first_seen_at timestamptz,
    last_attempt_at timestamptz,
    completed_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
