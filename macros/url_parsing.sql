{#- URL parsing with string functions (and one anchored regular expression for the scheme). A URL is read as
    scheme://[user-info@]host[:port][/path][?query][#fragment]. The steps are separate
    macros so that a model computes each part once and the next step reads it:
        after_scheme = url_after_scheme(url)
        authority    = url_authority(after_scheme)
        host         = url_host(authority)
        path         = url_path(after_scheme, authority)
        query        = url_query(after_scheme, authority)
    The seed's versions of these are defects 4, 5 and 6 of SOURCE.md. -#}

{#- The scheme, lower-cased ('HTTP://x' -> 'http'); NULL when the URL does not start with
    '<letters, digits, + . ->://'. -#}
{% macro url_scheme(url) -%}
    case
        when regexp_matches({{ url }}, '^[A-Za-z0-9+.-]+://')
            then lower(split_part({{ url }}, '://', 1))
    end
{%- endmacro %}

{#- The URL without its 'scheme://' (or a leading '//' of a scheme-relative URL). A URL
    without scheme is read as starting with its host. -#}
{% macro url_after_scheme(url) -%}
    case
        when {{ url_scheme(url) }} is not null then substr({{ url }}, strpos({{ url }}, '://') + 3)
        when starts_with({{ url }}, '//') then substr({{ url }}, 3)
        else {{ url }}
    end
{%- endmacro %}

{#- The URL without user info ('https://user:pw@host/x' -> 'https://host/x'): a user name or
    password in a URL is a credential, and never reaches the warehouse. User info is removed
    from the URL's own authority (after 'scheme://', after a leading '//', or at the start of
    a URL without scheme) and from every URL embedded after another 'scheme://' (the archived
    URL inside a Wayback URL, a URL in a query string): everything up to the last '@' before
    the next '/', '?' or '#', as url_host reads it. An '@' in a path, query or fragment is
    kept; nothing else changes. -#}
{% macro url_without_user_info(url) -%}
    regexp_replace({{ url }}, '(^//|^|://)[^/?#]*@', '\1', 'g')
{%- endmacro %}

{#- The authority: everything before the first '/', '?' or '#' (user info, host, port). -#}
{% macro url_authority(after_scheme) -%}
    split_part(split_part(split_part({{ after_scheme }}, '/', 1), '?', 1), '#', 1)
{%- endmacro %}

{#- The host: the authority without user info (up to the last '@'), without port and
    without trailing dots, lower-cased. IDN hosts stay in the form they arrive in (Unicode
    or punycode), lower-cased; 'www.' is kept; an IPv6 literal keeps its brackets. NULL
    when empty. -#}
{% macro url_host(authority) -%}
    nullif(rtrim(lower(
        case
            when starts_with(split_part({{ authority }}, '@', -1), '[')
                then split_part(split_part({{ authority }}, '@', -1), ']', 1) || ']'
            else split_part(split_part({{ authority }}, '@', -1), ':', 1)
        end
    ), '.'), '')
{%- endmacro %}

{#- The path without query and fragment, '/' when empty ('https://x.org?a' -> '/'). Case
    and percent-encoding are kept. -#}
{% macro url_path(after_scheme, authority) -%}
    coalesce(
        nullif(
            split_part(split_part(substr({{ after_scheme }}, length({{ authority }}) + 1), '#', 1), '?', 1),
            ''
        ),
        '/'
    )
{%- endmacro %}

{#- The query string without '?' and without fragment; NULL when there is none or it is
    empty ('/p?' -> NULL). A '?' inside the fragment does not start a query. -#}
{% macro url_query(after_scheme, authority) -%}
    nullif(
        substr(
            split_part(substr({{ after_scheme }}, length({{ authority }}) + 1), '#', 1),
            length(
                split_part(split_part(substr({{ after_scheme }}, length({{ authority }}) + 1), '#', 1), '?', 1)
            ) + 2
        ),
        ''
    )
{%- endmacro %}

{#- Number of non-empty path segments: '/' -> 0, '/a/b.html' -> 2, '/a//b/' -> 2. -#}
{% macro url_depth(path) -%}
    len(list_filter(string_split({{ path }}, '/'), segment -> segment <> ''))
{%- endmacro %}

{#- Extension of the last path segment (after its last dot, ';' parameters removed),
    lower-cased; NULL when the segment has no dot, ends with one, or only starts with one
    ('/a/.htaccess'). '/d/x.tar.gz' -> 'gz'; '/v2.0/readme' -> NULL. -#}
{% macro url_file_extension(path) -%}
    {%- set segment = "split_part(split_part(" ~ path ~ ", '/', -1), ';', 1)" -%}
    case
        when
            strpos({{ segment }}, '.') > 0
            and length({{ segment }}) > length(split_part({{ segment }}, '.', -1)) + 1
            then nullif(lower(split_part({{ segment }}, '.', -1)), '')
    end
{%- endmacro %}

{#- Whether a path (as url_path returns it) is the root of the site. -#}
{% macro is_root_path(path) -%}
    ({{ path }} = '/')
{%- endmacro %}
