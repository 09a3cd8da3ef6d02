{#- Which archive a page was fetched from. The seed archive_hosts lists the hosts of the
    Wayback Machine and of Common Crawl; the content URL's host is looked up there. -#}

{#- 'wayback' or 'commoncrawl' from the content URL's host (host_source: the match in the seed archive_hosts);
    when the content URL is missing or on another host, the project's archive_source if it
    names one archive; NULL for a 'hybrid' project (it fetches from both: the page's archive
    is unknown, and is not guessed). -#}
{% macro archive_source(host_source, project_archive_source) -%}
    coalesce(
        {{ host_source }},
        case when {{ project_archive_source }} in ('wayback', 'commoncrawl') then {{ project_archive_source }} end
    )
{%- endmacro %}

{#- The WARC file of a Common Crawl capture, as Common Crawl's index names it
    ('crawl-data/CC-MAIN-2023-50/segments/.../warc/CC-MAIN-...warc.gz'): the content URL's
    path without its leading '/', when the page came from Common Crawl and the path names a
    WARC file. NULL otherwise: the Wayback Machine does not expose its WARC files. -#}
{% macro warc_filename(source, content_path) -%}
    case
        when
            {{ source }} = 'commoncrawl'
            and (ends_with(lower({{ content_path }}), '.warc.gz') or ends_with(lower({{ content_path }}), '.warc'))
            then ltrim({{ content_path }}, '/')
    end
{%- endmacro %}
