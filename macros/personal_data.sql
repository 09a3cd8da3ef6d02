{#- Personal data and credentials in free text and URLs, masked in staging so that neither
    reaches a view, a mart or a Parquet file. Three steps, each one regular expression that
    scans the text once (they run on URLs and short text columns, never on page bodies):
    1. the user info of every URL is removed (url_parsing.sql; always);
    2. e-mail addresses become '<email>' (unless the var keep_personal_data is true);
    3. the values of credential query parameters become '<redacted>' (always).
    Credentials are never kept: the var only keeps the personal data (e-mail addresses) that
    an analyst may need, when an analyst switches it on. -#}

{#- Personal data and credentials of a text column masked; is_url: the column holds one URL
    (its own user info is removed too, also for a URL without scheme), else free text that
    may hold URLs (an error message, a title); keep_personal_data: keep e-mail addresses
    (default: the var of that name). NULL stays NULL.
    'https://u:p@h/x?access_token=t&to=a@b.org' -> 'https://h/x?access_token=<redacted>&to=<email>'

    Cost: DuckDB's regexp_replace costs about 0.8 s per million short strings (2 threads)
    even where it matches nothing, contains() about 0.01 s. So steps 1 and 2 run only on the
    rows whose column holds '@' (or '%40'), step 3 only on those holding '=' (or '%3D'): a few
    percent and the URLs with a query string. The tests read the column itself, which the
    steps only shorten, and each row runs each regular expression at most once. -#}
{% macro mask_personal_data(column, is_url=false, keep_personal_data=none) -%}
    {%- set keep = var('keep_personal_data', false) if keep_personal_data is none else keep_personal_data -%}
    {%- set without_user_info = url_without_user_info(column) if is_url else text_without_url_user_info(column) -%}
    {%- set without_addresses = without_user_info if keep else without_email_addresses(without_user_info) -%}
    {%- set with_at -%}
        case
            when contains({{ column }}, '@') or contains({{ column }}, '%40') then {{ without_addresses }}
            else {{ column }}
        end
    {%- endset -%}
    case
        when contains({{ column }}, '=') or contains({{ column }}, '%3D') or contains({{ column }}, '%3d')
            then {{ without_credential_parameters(with_at) }}
        else {{ with_at }}
    end
{%- endmacro %}

{#- A query parameter is a credential when its name (any case) is
      - code, or ends with token, secret, password, passwd, signature, credential or
        credentials (access_token, auth_token, csrftoken, client_secret, X-Amz-Signature,
        X-Amz-Credential, X-Amz-Security-Token),
      - or is, or ends with '_', '-' or '.' and, key, apikey, sig, session, auth or pwd (api_key,
        API_KEY, x-api-key, oauth_consumer_key, session, x-goog-sig; also sort_key: a name
        ending in '_key' is taken for a key),
      - or is a session id: sessionid, session_id, jsessionid, phpsessid, aspsessionid.
    Not credentials: country_code, zip_code (code only alone), monkey, session_state, email
    (an address is step 3's). A parameter starts after '?', '&', ';' (also '&amp;' and matrix
    parameters), '#' (OAuth puts access_token in the fragment), whitespace or the text's start;
    its value ends at '&', ';', '#', '?', whitespace, a quote, '<', '>' or '\'. An empty value or
    a name without '=' stays ('token=&auth'). The same inside a percent-encoded query string
    (a redirect URL in a parameter). -#}
{% macro credential_parameter_names() -%}
    [a-z0-9_.-]*(?:token|secret|password|passwd|signature|credentials?)|(?:[a-z0-9_.-]*[_.-])?(?:key|apikey|sig|session|auth|pwd)|[a-z]*sess(?:ion)?[_.-]?id|code
{%- endmacro %}

{#- The text with the values of credential query parameters replaced by '<redacted>', plain
    ('?token=abc&x' -> '?token=<redacted>&x') or percent-encoded ('%3Ftoken%3Dabc%26x' ->
    '%3Ftoken%3D<redacted>%26x', where an encoded value ends at '%26'). One regular
    expression: groups 1-3 (boundary, name, '=') hold the plain form, 4-6 the encoded one;
    the groups of the alternative that did not match are empty. -#}
{% macro without_credential_parameters(text) -%}
    regexp_replace(
        {{ text }},
        '(^|[?&;#\s])({{ credential_parameter_names() }})(=)[^&;#?\s"''<>\\]+'
        || '|(%3f|%26)({{ credential_parameter_names() }})(%3d)(?:[^%&;#?\s"''<>\\]|%(?:[013-9a-f][0-9a-f]|2[0-57-9a-f]))+',
        '\1\2\3\4\5\6<redacted>',
        'gi'
    )
{%- endmacro %}

{#- The text with e-mail addresses replaced by '<email>'. An address: a local part of letters,
    digits and . _ % + - ; '@' or its percent-encoding '%40'; two or more labels of letters,
    digits and '-', separated by dots, the last starting with a letter. A label of digits and
    a final 'x' ('logo@2x.png', a high-resolution image) is not a domain's; '@user' without
    local part (a handle) and 'a@b' without a dotted domain stay.
    Letters are ASCII letters and the code points from U+00C0 on, less the blocks of
    punctuation, symbols and spaces (U+2000-2BFF, U+2E00-303F, U+FE00-FFFF): RE2's Unicode
    classes (\pL) take about 30 ms to compile, once per expression and query, and a model
    holds a dozen of these expressions; these ranges take under 1 ms. -#}
{% macro without_email_addresses(text) -%}
    {%- set other = "\\x{C0}-\\x{1FFF}\\x{2C00}-\\x{2DFF}\\x{3040}-\\x{D7FF}\\x{F900}-\\x{FDFF}\\x{10000}-\\x{10FFFF}" -%}
    {%- set letter = "A-Za-z" ~ other -%}
    {%- set label = "(?:[" ~ letter ~ "-][0-9" ~ letter ~ "-]*|[0-9]+(?:[" ~ letter ~ "-][0-9" ~ letter
        ~ "-]+|-|[a-wyzA-WYZ" ~ other ~ "])?)" -%}
    regexp_replace(
        {{ text }},
        '[0-9{{ letter }}._%+-]+(?:@|%40)(?:{{ label }}\.)+[{{ letter }}][0-9{{ letter }}-]*',
        '<email>',
        'g'
    )
{%- endmacro %}
