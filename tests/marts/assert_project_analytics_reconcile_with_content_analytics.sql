-- Per project and day, the project-level totals of project_analytics equal the counts over
-- content_analytics (discovered, successful, failed, filtered, content bytes, words).
with expected as (
    select
        project_id,
        processing_date as analytics_date,
        count(*) as total_pages_discovered,
        count(*) filter (where extraction_status = 'success') as total_pages_successful,
        count(*) filter (where extraction_status = 'failed') as total_pages_failed,
        count(*) filter (where extraction_status = 'filtered') as total_pages_skipped,
        coalesce(sum(original_size_bytes), 0) as total_content_size_bytes,
        coalesce(sum(word_count), 0) as total_word_count
    from {{ ref('content_analytics') }}
    group by all
),

actual as (
    select
        project_id,
        analytics_date,
        total_pages_discovered,
        total_pages_successful,
        total_pages_failed,
        total_pages_skipped,
        total_content_size_bytes,
        total_word_count
    from {{ ref('project_analytics') }}
    where aggregation_level = 'project'
),

missing_from_actual as (
    select * from expected
    except
    select * from actual
),

missing_from_expected as (
    select * from actual
    except
    select * from expected
)

select
    'expected, not in project_analytics' as problem,
    missing_from_actual.project_id,
    missing_from_actual.analytics_date,
    missing_from_actual.total_pages_discovered,
    missing_from_actual.total_pages_successful,
    missing_from_actual.total_pages_failed,
    missing_from_actual.total_pages_skipped,
    missing_from_actual.total_content_size_bytes,
    missing_from_actual.total_word_count
from missing_from_actual
union all
select
    'in project_analytics, not expected' as problem,
    missing_from_expected.project_id,
    missing_from_expected.analytics_date,
    missing_from_expected.total_pages_discovered,
    missing_from_expected.total_pages_successful,
    missing_from_expected.total_pages_failed,
    missing_from_expected.total_pages_skipped,
    missing_from_expected.total_content_size_bytes,
    missing_from_expected.total_word_count
from missing_from_expected
