-- Deterministic synthetic Chrono Scraper data, generated inside PostgreSQL.
-- Placeholders __SEED__, __PAGES__, __USERS__, __PROJECTS__, __DOMAINS__, __SESSIONS__ are
-- replaced by integers before this runs. Every random choice comes from pg_temp.r(row, salt):
-- a hash of the row number, a per-column salt and the seed, so the data does not depend on
-- the query plan and the same seed always gives the same database.

create function pg_temp.r(i bigint, salt integer) returns double precision
language sql immutable parallel safe as $$
    select ((hashint8(i * 1000003 + salt * 7919 + __SEED__)::bigint & 2147483647))::float8
        / 2147483648.0
$$;

-- Every timestamp is placed relative to when the data is generated (the anchor: the start of
-- the current minute), never after it: the timeline is the 1,790 days before the anchor.
create function pg_temp.anchor() returns timestamptz
language sql stable as $$
    select date_trunc('minute', now())
$$;

-- The anchor minus `days` days.
create function pg_temp.ago(days double precision) returns timestamptz
language sql stable as $$
    select pg_temp.anchor() - days * interval '1 day'
$$;

create function pg_temp.pick(options text[], i bigint, salt integer) returns text
language sql immutable parallel safe as $$
    select options[1 + floor(pg_temp.r(i, salt) * cardinality(options))::integer]
$$;

-- users: a few dozen, with fake secrets that must never reach DuckDB
insert into users
select
    g,
    'user' || g || '@' || pg_temp.pick(array['example.org', 'uni-leiden.nl', 'mail.com', 'ox.ac.uk'], g, 1),
    pg_temp.pick(array['Ada Lovelace', 'Alan Turing', 'Grace Hopper', 'Edsger Dijkstra', 'Barbara Liskov'], g, 2) || ' ' || g,
    pg_temp.r(g, 3) < 0.9,
    pg_temp.r(g, 4) < 0.8,
    pg_temp.pick(array['pending', 'approved', 'approved', 'approved', 'rejected'], g, 5),
    case when pg_temp.r(g, 6) < 0.3 then null
         else pg_temp.pick(array['Leiden University', 'University of Oxford', 'Internet Archive', 'Max Planck Institute'], g, 7) end,
    'pbkdf2_sha256$600000$FAKE-SECRET-HASH$' || md5('pw' || g),
    'FAKE-SECRET-TOKEN-' || md5('tok' || g),
    'FAKE-SECRET-MFA-' || substr(md5('mfa' || g), 1, 16),
    'FAKE-SECRET-BACKUP-' || md5('bk' || g),
    pg_temp.r(g, 8) < 0.2,
    pg_temp.ago(2100 - pg_temp.r(g, 9) * 900),
    least(pg_temp.ago(2100 - pg_temp.r(g, 9) * 900 - pg_temp.r(g, 10) * 400), pg_temp.anchor())
from generate_series(1, __USERS__) as g;

-- projects: hundreds
insert into projects
select
    g,
    1 + floor(pg_temp.r(g, 11) * __USERS__)::integer,
    pg_temp.pick(array['Climate policy', 'Elections', 'Public health', 'Museums', 'Local news', 'Universities'], g, 12) || ' archive #' || g,
    case when pg_temp.r(g, 13) < 0.25 then null else 'Research collection number ' || g end,
    pg_temp.pick(array['no_index', 'indexing', 'indexed', 'indexed', 'indexed', 'error', 'paused'], g, 14),
    pg_temp.r(g, 15) < 0.85,
    pg_temp.r(g, 16) < 0.7,
    pg_temp.r(g, 17) < 0.3,
    pg_temp.r(g, 18) < 0.35,
    case when pg_temp.r(g, 18) < 0.35
         then pg_temp.pick(array['openrouter', 'openai', 'anthropic', 'ollama'], g, 19)
         else 'disabled' end,
    case when pg_temp.r(g, 18) < 0.35 and pg_temp.r(g, 20) < 0.9
         then round((0.05 + pg_temp.r(g, 21) * 2)::numeric, 4)::float8 end,
    pg_temp.pick(array['wayback', 'wayback', 'wayback', 'commoncrawl', 'hybrid'], g, 22),
    'FAKE-SECRET-SEARCH-KEY-' || md5('key' || g),
    'FAKE-SECRET-KEY-UID-' || md5('uid' || g),
    pg_temp.ago(1795 - pg_temp.r(g, 23) * 700),
    least(pg_temp.ago(1795 - pg_temp.r(g, 23) * 700 - pg_temp.r(g, 24) * 500), pg_temp.anchor())
from generate_series(1, __PROJECTS__) as g;

-- domains: thousands; names as users type them (some with www., upper case, IDN)
insert into domains
select
    g,
    1 + floor(pg_temp.r(g, 31) * __PROJECTS__)::integer,
    case
        when pg_temp.r(g, 32) < 0.04 then 'bücher-' || g || '.de'
        when pg_temp.r(g, 32) < 0.08 then 'xn--bcher-kva' || g || '.de'
        when pg_temp.r(g, 32) < 0.12 then 'WWW.Site' || g || '.COM'
        when pg_temp.r(g, 32) < 0.30 then 'www.site' || g || '.' || pg_temp.pick(array['com', 'org', 'gov', 'edu', 'co.uk', 'com.au', 'net'], g, 33)
        else pg_temp.pick(array['news', 'blog', 'data', 'portal', 'library', 'site'], g, 34) || g || '.'
            || pg_temp.pick(array['com', 'com', 'com', 'org', 'net', 'gov', 'edu', 'co.uk', 'org.uk', 'gov.uk', 'ac.uk', 'com.au', 'edu.au', 'gov.au', 'de', 'fr', 'nl', 'io', 'mil'], g, 35)
    end,
    pg_temp.pick(array['exact', 'prefix', 'domain', 'domain', 'domain', 'regex'], g, 36),
    case when pg_temp.r(g, 37) < 0.7 then null else '/' || pg_temp.pick(array['news', 'en', 'archive', 'reports'], g, 38) end,
    pg_temp.pick(array['active', 'active', 'paused', 'completed', 'error'], g, 39),
    pg_temp.r(g, 40) < 0.4,
    0, 0, 0, 0, 0,
    pg_temp.ago(1795 - pg_temp.r(g, 41) * 800),
    least(pg_temp.ago(1795 - pg_temp.r(g, 41) * 800 - pg_temp.r(g, 42) * 600), pg_temp.anchor())
from generate_series(1, __DOMAINS__) as g;

-- scrape sessions: session s belongs to project 1 + (s - 1) % projects, so a page can pick a
-- session of its own project without a lookup. A started session runs from started_at for
-- 6 hours to 3 days; one whose window has ended is completed, cancelled or failed, one still
-- inside it (the last days of the timeline) is running; 5% never started (pending).
insert into scrape_sessions
with windows as (
    select
        g,
        pg_temp.r(g, 57) < 0.05 as is_pending,
        pg_temp.ago(1790 - pg_temp.r(g, 58) * 1789) as window_start,
        interval '6 hours' + pg_temp.r(g, 59) * interval '66 hours' as window_length
    from generate_series(1, __SESSIONS__) as g
)
select
    g,
    1 + (g - 1) % __PROJECTS__,
    case when pg_temp.r(g, 51) < 0.1 then null else 'Session ' || g end,
    case
        when is_pending then 'pending'
        when window_start + window_length > pg_temp.anchor() then 'running'
        else pg_temp.pick(array['completed', 'completed', 'completed', 'completed', 'cancelled', 'failed'], g, 52)
    end,
    (100 + pg_temp.r(g, 53) * 5000)::integer,
    (pg_temp.r(g, 54) * 4000)::integer,
    (pg_temp.r(g, 55) * 300)::integer,
    (pg_temp.r(g, 56) * 50)::integer,
    case when not is_pending then window_start end,
    case when not is_pending and window_start + window_length <= pg_temp.anchor() then window_start + window_length end,
    window_start - interval '1 hour',
    case when is_pending then window_start - interval '1 hour' else least(window_start + window_length, pg_temp.anchor()) end
from windows;

-- scrape pages: the large table
insert into scrape_pages
with draws as (
    select
        g::bigint as id,
        -- skewed: a few domains hold many pages
        1 + floor(power(pg_temp.r(g, 101), 2) * __DOMAINS__)::integer as domain_id,
        pg_temp.r(g, 104) as status_draw,
        pg_temp.r(g, 105) as url_draw,
        pg_temp.r(g, 106) as path_draw,
        pg_temp.r(g, 107) as mime_draw,
        pg_temp.r(g, 108) as body_draw,
        pg_temp.r(g, 109) as ts_draw
    from generate_series(1, __PAGES__) as g
),

-- 90% of the pages were discovered by a session of their project, inside its window (so a
-- session holds many pages a day); the others at any time of the timeline. Captures
-- (archived_at) precede processing: between 2005 and created_at.
base as (
    select
        draws.*,
        pages_session.id as scrape_session_id,
        timing.created_at,
        timestamptz '2005-01-01 00:00:00+00'
            + pg_temp.r(draws.id, 102) * (timing.created_at - timestamptz '2005-01-01 00:00:00+00') as archived_at
    from draws
    inner join domains as d on draws.domain_id = d.id
    left join scrape_sessions as pages_session
        on pg_temp.r(draws.id, 120) >= 0.1
        and pages_session.id = d.project_id + __PROJECTS__ * floor(pg_temp.r(draws.id, 121) * ((__SESSIONS__ - d.project_id) / __PROJECTS__ + 1))::integer
    cross join lateral (
        select
            case
                when pages_session.started_at is not null
                    then pages_session.started_at + pg_temp.r(draws.id, 103)
                        * (coalesce(pages_session.completed_at, pg_temp.anchor()) - pages_session.started_at)
                else pg_temp.ago(pg_temp.r(draws.id, 103) * 1790)
            end as created_at
    ) as timing
),

with_status as (
    select
        b.*,
        d.project_id,
        d.domain_name,
        p.archive_source,
        case
            when status_draw < 0.55 then 'completed'
            when status_draw < 0.63 then 'failed'
            when status_draw < 0.69 then 'pending'
            when status_draw < 0.71 then 'in_progress'
            when status_draw < 0.74 then 'retry'
            when status_draw < 0.77 then 'skipped'
            when status_draw < 0.81 then 'filtered_list_page'
            when status_draw < 0.84 then 'filtered_already_processed'
            when status_draw < 0.855 then 'filtered_attachment_disabled'
            when status_draw < 0.87 then 'filtered_file_extension'
            when status_draw < 0.885 then 'filtered_size_too_small'
            when status_draw < 0.895 then 'filtered_size_too_large'
            when status_draw < 0.91 then 'filtered_low_priority'
            when status_draw < 0.925 then 'filtered_custom_rule'
            when status_draw < 0.94 then 'manually_skipped'
            when status_draw < 0.96 then 'manually_approved'
            else 'awaiting_manual_review'
        end as status,
        case
            when url_draw < 0.70 then lower(d.domain_name)
            when url_draw < 0.76 then upper(d.domain_name)
            when url_draw < 0.80 then d.domain_name || ':8080'
            when url_draw < 0.83 then d.domain_name || '.'
            when url_draw < 0.84 then 'archiver:FAKE-SECRET@' || d.domain_name
            -- user info as attackers write it: '#', '/', '?' and '@' inside the password, a
            -- user name alone (a token), a password that looks like a port
            when url_draw < 0.85 then pg_temp.pick(array[
                'admin:PLANT1-S3cr#t@', 'dave:PLANT6-p/w@', 'gina:PLANT9-pw?x@', 'carol:PLANT3-a@b@',
                'bob:PLANT2-pw@', 'hank:PLANT10@', 'PLANT4-token@', 'ivy:PLANT11-p\w@'
            ], b.id, 143) || d.domain_name
            when url_draw < 0.87 then d.domain_name || ':443'
            when url_draw < 0.93 then case when d.domain_name ilike 'www.%' then d.domain_name else 'www.' || d.domain_name end
            else d.domain_name
        end as url_host,
        case
            when path_draw < 0.04 then ''
            when path_draw < 0.10 then '/'
            when path_draw < 0.40 then '/news/' || (2005 + b.id % 20) || '/article-' || b.id || '.html'
            when path_draw < 0.50 then '/reports/annual-' || b.id % 97 || '.PDF'
            when path_draw < 0.58 then '/search?q=v1.2/final&page=' || b.id % 13
            when path_draw < 0.64 then '/page.html?x=1.5&ref=a/b.c'
            when path_draw < 0.70 then '/archive/index.php?id=' || b.id || '#section-2.1'
            when path_draw < 0.75 then '/downloads/data-' || b.id % 50 || '.tar.gz'
            when path_draw < 0.80 then '/v2.0/readme'
            when path_draw < 0.86 then '/category/' || b.id % 40 || '/'
            when path_draw < 0.90 then '/a/b/c/d/e/f/deep.HTM'
            when path_draw < 0.93 then '/#top'
            when path_draw < 0.96 then '?utm_source=x.y'
            -- e-mail addresses and credentials in paths and query strings
            when path_draw < 0.98 then pg_temp.pick(array[
                '/people/user' || b.id % 50 || '@example.org/cv.pdf',
                '/login?access_token=PLANT-TOKEN-' || b.id || '&email=user' || b.id % 50 || '@example.org&lang=en',
                '/files/r.pdf?X-Amz-Credential=PLANT-AKIA-' || b.id || '&X-Amz-Signature=PLANT-SIG-' || b.id || '#page=2',
                '/api?API_KEY=PLANT-KEY-' || b.id || '&amp;sessionid=PLANT-SESS-' || b.id,
                '/share?to=user' || b.id % 50 || '%40mail.com&sig=PLANT-S-' || b.id,
                '/cb?state=x&code=PLANT-CODE-' || b.id
            ], b.id, 144)
            else '/about/team'
        end as url_path
    from base as b
    inner join domains as d on b.domain_id = d.id
    inner join projects as p on d.project_id = p.id
),

with_url as (
    select
        w.*,
        (case when pg_temp.r(id, 110) < 0.02 then 'HTTP' when pg_temp.r(id, 110) < 0.45 then 'http' else 'https' end)
            || case when url_host like 'hank:%' then ':\\' else '://' end || url_host || url_path as original_url,
        case
            when ts_draw < 0.003 then null
            when ts_draw < 0.006 then pg_temp.pick(array['2023011509', 'abcdefghijklmn', '20231345999999', '', '0', '2023-01-15T093', '19990231120000', '20230115096000'], id, 111)
            else to_char(archived_at at time zone 'UTC', 'YYYYMMDDHH24MISS')
        end as unix_timestamp,
        case
            when archive_source = 'commoncrawl' or (archive_source = 'hybrid' and pg_temp.r(id, 112) < 0.4) then 'commoncrawl'
            else 'wayback'
        end as fetched_from,
        status in ('completed', 'manually_approved') as has_body,
        -- up to 20 days after created_at, and never after the anchor: a page created in the
        -- last 20 days is updated at a random time between its creation and the anchor (not
        -- at the anchor itself, which would stack thousands of updates on one minute)
        created_at
            + case when status = 'pending' and pg_temp.r(id, 113) < 0.5 then interval '0'
                   else pg_temp.r(id, 114) * least(interval '20 days', pg_temp.anchor() - created_at) end
            as updated_at
    from with_status as w
)

-- ids grow with created_at, as the application inserts the pages
select
    row_number() over (order by created_at, id) as id,
    domain_id,
    scrape_session_id,
    original_url,
    case
        when pg_temp.r(id, 122) < 0.02 then null
        when fetched_from = 'commoncrawl'
            then 'https://data.commoncrawl.org/crawl-data/CC-MAIN-2023-50/segments/1700679100' || (id % 1000)
                || '.0/warc/CC-MAIN-20231201-' || lpad((id % 100000)::text, 5, '0') || '.warc.gz'
        -- the Wayback Machine also writes the archived URL with one slash after its scheme
        when pg_temp.r(id, 145) < 0.1 or original_url like '%bob:PLANT2%'
            then 'https://web.archive.org/web/' || coalesce(unix_timestamp, '2020') || 'id_/' || replace(original_url, '://', ':/')
        else 'https://web.archive.org/web/' || coalesce(unix_timestamp, '2020') || 'id_/' || original_url
    end as content_url,
    unix_timestamp,
    case
        when mime_draw < 0.30 then 'text/html'
        when mime_draw < 0.50 then 'text/html; charset=utf-8'
        when mime_draw < 0.55 then 'TEXT/HTML; Charset=ISO-8859-1'
        when mime_draw < 0.63 then 'application/pdf'
        when mime_draw < 0.65 then 'Application/PDF'
        when mime_draw < 0.70 then 'application/xhtml+xml'
        when mime_draw < 0.74 then 'image/jpeg'
        when mime_draw < 0.76 then 'image/PNG'
        when mime_draw < 0.80 then 'text/plain; charset=us-ascii'
        when mime_draw < 0.83 then 'application/json'
        when mime_draw < 0.85 then 'text/css'
        when mime_draw < 0.87 then 'application/javascript'
        when mime_draw < 0.89 then 'application/msword'
        when mime_draw < 0.91 then 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'
        when mime_draw < 0.93 then 'warc/revisit'
        when mime_draw < 0.95 then 'unk'
        when mime_draw < 0.97 then 'video/mp4'
        else null
    end as mime_type,
    (array[200, 200, 200, 200, 200, 200, 200, 200, 301, 302, 404, 403, 500, 503])[1 + floor(pg_temp.r(id, 123) * 14)::integer] as status_code,
    case
        when pg_temp.r(id, 124) < 0.02 then null
        when pg_temp.r(id, 124) < 0.03 then 0
        else floor(exp(4 + pg_temp.r(id, 125) * 10))::integer
    end as content_length,
    upper(substr(md5('digest' || id), 1, 32)) as digest_hash,
    case when has_body and pg_temp.r(id, 126) < 0.95
         then pg_temp.pick(array['Annual report', 'Press release', 'Research news', 'Événements à venir', 'Ministry notice'], id, 127) || ' ' || id end as title,
    case
        when not has_body then null
        when body_draw < 0.04 then ''
        else repeat(
            pg_temp.pick(array[
                'The committee published its findings on regional water quality and recommended further monitoring. ',
                'Researchers archived the pages to study how public information changes over time. ',
                'Le ministère a publié un nouveau rapport sur la politique climatique. ',
                'Data tables, figures and appendices are available on request from the archive team.' || chr(10) || chr(10)
            ], id, 128),
            1 + floor(power(body_draw, 3) * 150)::integer
        ) || chr(10) || 'Page ' || id || '.'
    end as extracted_text,
    case
        when not has_body then null
        when body_draw < 0.04 then ''
        else '# Page ' || id || chr(10) || chr(10) || repeat(
            'Researchers archived the pages to study **how public information** changes over time.' || chr(10) || chr(10),
            1 + floor(power(body_draw, 3) * 140)::integer
        )
    end as markdown_content,
    mime_draw >= 0.55 and mime_draw < 0.65 as is_pdf,
    status = 'filtered_already_processed' or pg_temp.r(id, 129) < 0.03 as is_duplicate,
    status = 'filtered_list_page' or pg_temp.r(id, 130) < 0.05 as is_list_page,
    case when has_body then pg_temp.pick(array['firecrawl', 'trafilatura', 'pdf_text', 'beautifulsoup'], id, 131) end as extraction_method,
    case when status like 'filtered%' and pg_temp.r(id, 132) < 0.5
         then pg_temp.pick(array['Matched list page pattern', 'Content hash seen before', 'Below minimum size', 'Custom rule: exclude /tag/'], id, 133)
             || case when pg_temp.r(id, 146) < 0.3 then ' (set by user' || id % 50 || '@uni-leiden.nl)' else '' end end as filter_reason,
    case when status like 'filtered%' then pg_temp.pick(array['list_page', 'duplicate', 'size', 'custom', 'attachment'], id, 134) end as filter_category,
    status like 'manually%' as is_manually_overridden,
    case when status like 'filtered%' then round(pg_temp.r(id, 135)::numeric, 3)::float8 end as filter_confidence,
    case when pg_temp.r(id, 136) < 0.05 then null else floor(pg_temp.r(id, 137) * 11)::integer end as priority_score,
    status,
    case when status in ('failed', 'retry')
         then pg_temp.pick(array['Read timed out after 30s', 'HTTP 503 from web.archive.org', 'Connection reset by peer', 'Could not parse PDF: EOF marker not found', 'Rate limited (429)'], id, 138)
             || case when pg_temp.r(id, 147) < 0.3 then pg_temp.pick(array[
                    ' for https://admin:PLANT5-S3cr#t@' || lower(domain_name) || '/x',
                    ' (owner user' || id % 50 || '@example.org, cc USER' || id % 7 || '@Mail.COM)',
                    ' at https://api.example.org/v1?Token=PLANT-TOK-' || id || '&user=user' || id % 50 || '%40example.org',
                    ': GET http:/eve:PLANT7-pw@' || lower(domain_name) || '/feed?auth=PLANT-AUTH-' || id
                ], id, 148) else '' end end as error_message,
    case when status in ('failed', 'retry')
         then pg_temp.pick(array['timeout', 'http_error', 'connection_error', 'parse_error', 'rate_limited'], id, 138) end as error_type,
    case
        when status = 'failed' then floor(pg_temp.r(id, 139) * 4)::integer
        when status = 'retry' then 1 + floor(pg_temp.r(id, 139) * 2)::integer
        when pg_temp.r(id, 139) < 0.05 then 1
        else 0
    end as retry_count,
    case when pg_temp.r(id, 140) < 0.1 then 5 else 3 end as max_retries,
    case when status in ('pending') then null else round((0.05 + pg_temp.r(id, 141) * 8)::numeric, 3)::float8 end as fetch_time,
    case when has_body then round((0.01 + pg_temp.r(id, 142) * 4)::numeric, 3)::float8 end as extraction_time,
    case when status in ('pending') then null else round((0.1 + pg_temp.r(id, 141) * 8 + pg_temp.r(id, 142) * 4)::numeric, 3)::float8 end as total_processing_time,
    created_at as first_seen_at,
    case when status = 'pending' then null else updated_at end as last_attempt_at,
    case when status in ('completed', 'manually_approved') then updated_at end as completed_at,
    created_at,
    updated_at
from with_url;

create index scrape_pages_updated_at_idx on scrape_pages (updated_at);
create index scrape_pages_created_at_idx on scrape_pages (created_at);
create index scrape_pages_domain_id_idx on scrape_pages (domain_id);

-- keep the denormalised counters of domains consistent with the pages
update domains as d
set
    total_pages = c.total,
    scraped_pages = c.scraped,
    failed_pages = c.failed,
    duplicate_pages = c.duplicates,
    list_pages_filtered = c.list_pages
from (
    select
        domain_id,
        count(*) as total,
        count(*) filter (where status = 'completed') as scraped,
        count(*) filter (where status = 'failed') as failed,
        count(*) filter (where is_duplicate) as duplicates,
        count(*) filter (where status = 'filtered_list_page') as list_pages
    from scrape_pages
    group by domain_id
) as c
where d.id = c.domain_id;

analyze;
