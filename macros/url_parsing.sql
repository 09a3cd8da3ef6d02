{#- URL parsing with string functions (and anchored regular expressions for the scheme). A URL is
    read as scheme://[user-info@]host[:port][/path][?query][#fragment]. The steps are separate
    macros so that a model computes each part once and the next step reads it:
        after_scheme = url_after_scheme(url)
        authority    = url_authority(after_scheme)
        host         = url_host(authority)
        path         = url_path(after_scheme, authority)
        query        = url_query(after_scheme, authority)

    Where the authority starts (url_scheme, url_after_scheme): after 'scheme:' and two '/' or
    '\' ('https://', 'https:\\'); for the special schemes http, https, ftp, ws and wss after any
    number (at least one) of '/' or '\' ('http:/host', 'https:///host'), as browsers read them
    (WHATWG URL standard); after a leading '//' or '\\'; at the start of a URL without scheme.
    It ends at the first '/', '\', '?' or '#'. The user-info rule (url_user_info_pattern)
    starts URLs at the same places, and also after a special scheme with no slash. -#}

{#- The scheme, lower-cased ('HTTP://x' -> 'http', 'https:\\x' -> 'https'); NULL when the URL
    does not start with a scheme and an authority as above ('mailto:a@b', 'example.org:8080/'). -#}
{% macro url_scheme(url) -%}
    case
        when regexp_matches({{ url }}, '^(?:(?:https?|ftp|wss?):[/\\]|[a-z0-9+.-]+:[/\\]{2})', 'i')
            then lower(split_part({{ url }}, ':', 1))
    end
{%- endmacro %}

{#- The URL without its scheme and the slashes that follow ('https://', 'HTTP:/', 'https:\\'),
    or without the leading '//' of a scheme-relative URL. A URL without scheme is read as
    starting with its host. -#}
{% macro url_after_scheme(url) -%}
    regexp_replace({{ url }}, '^(?:(?:https?|ftp|wss?):[/\\]+|[a-z0-9+.-]+:[/\\]{2}|[/\\]{2})', '', 'i')
{%- endmacro %}

{#- The regular expression (a SQL string literal) that finds the user info of URLs, for
    regexp_replace(text, pattern, replacement, 'gi'); in_text: URLs inside free text, where
    whitespace, quotes and angle brackets also end a URL (replacement '\1'); else the text is
    one URL, whose start may be a URL's own start (replacement '\1\2').

    The rule: a URL starts after 'scheme:' and two or more '/' or '\', after 'http:', 'https:',
    'ftp:', 'ws:' or 'wss:' (any case) and any number of '/' or '\' (the Wayback Machine writes
    'http:/host'; browsers read 'https:\\host' and 'http:host'), and for one URL also after a
    leading '//' or '\\' or at the start of a URL without scheme - except 'mailto:', 'news:',
    'xmpp:', 'sip:', 'sips:' at the start, whose '@' is an address's. Its authority ends at
    the first '/', '\', '?' or '#'. Its user info is
    1. up to the last '@' of the authority, when what follows is a host and a port (digits,
       at most 5) - 'https://a@b:c@host:8080/' -> 'https://host:8080/';
    2. or, when the authority (after its last '@') is 'name:text' and text is not a port - a
       password holding '/', '\', '?' or '#', never percent-encoded - up to the first '@'
       after it, then as in 1 ('https://dave:p/w@h2/x' -> 'https://h2/x'), repeated while
       what follows is again 'name:text'.
    Otherwise nothing is removed: an '@' in a path, query or fragment stays when the authority
    is a plain host[:port] ('https://medium.com/@user/post', 'http://[::1]:8080/@x',
    'https://example.org?next=a@b'). The one reading left to URL parsers: a password of at most
    5 digits followed by '/', '?' or '#' ('https://admin:1234#t@shop/') is a port, as every
    parser reads it, and stays. -#}
{% macro url_user_info_pattern(in_text=false) -%}
    {%- set ends = "/?#\\\\" ~ ("\\s\"''<>" if in_text else "") -%}
    {#- user info within the authority: up to its last '@' -#}
    {%- set in_authority = "[^" ~ ends ~ "]*@" -%}
    {#- 'name:text' where text is not a port, then up to the next '@' (crossing '/', '?', '#') -#}
    {%- set past_authority = "(?:[^" ~ ends ~ "]*@)?[^:" ~ ends ~ "@\\[]*:"
        ~ "(?:[^" ~ ends ~ "@]*[^0-9" ~ ends ~ "@]|[0-9]{6})"
        ~ ("[^@\\s\"''<>]*@" if in_text else "[^@]*@") -%}
    {%- set user_info = "(?:(?:" ~ past_authority ~ ")+(?:" ~ in_authority ~ ")?|" ~ in_authority ~ ")" -%}
    {%- set embedded_start = ":[/\\\\]{2,}|(?:^|[^a-z0-9+.-])(?:https?|ftp|wss?):[/\\\\]*" -%}
    {%- if in_text -%}
        '({{ embedded_start }}){{ user_info }}'
    {%- else -%}
        '(^(?:mailto|news|xmpp|sips?):)|({{ embedded_start }}|^[/\\]{2}|^){{ user_info }}'
    {%- endif -%}
{%- endmacro %}

{#- The URL without user info ('https://user:pw@host/x' -> 'https://host/x'): a user name or
    password in a URL is a credential, and never reaches the warehouse. Removed from the URL's
    own authority and from every URL embedded in it (the archived URL inside a Wayback URL, a
    URL in a query string), by the rule of url_user_info_pattern; nothing else changes. -#}
{% macro url_without_user_info(url) -%}
    regexp_replace({{ url }}, {{ url_user_info_pattern() }}, '\1\2', 'gi')
{%- endmacro %}

{#- Free text (an error message) without the user info of the URLs it holds. -#}
{% macro text_without_url_user_info(text) -%}
    regexp_replace({{ text }}, {{ url_user_info_pattern(in_text=true) }}, '\1', 'gi')
{%- endmacro %}

{#- The authority: everything before the first '/', '\', '?' or '#' (user info, host, port). -#}
{% macro url_authority(after_scheme) -%}
    split_part(split_part(split_part(split_part({{ after_scheme }}, '/', 1), '\', 1), '?', 1), '#', 1)
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
