{#- Public suffix, registrable domain and subdomain of a host, by the Public Suffix List's
    algorithm over the ICANN rules in the seed public_suffix_rules:
    - a host's candidate suffixes are its last 1, 2, ... labels;
    - an exception rule (!www.ck) that matches wins: the suffix is the rule minus its first
      label; otherwise the longest normal (co.uk) or wildcard (*.ck: any one label + .ck)
      match wins; with no match the last label is the suffix (the list's implicit '*').
    The model joins the seed (one row per suffix string, with flags is_rule,
    is_wildcard_parent, is_exception) once per candidate length (1 .. 4, see
    public_suffix_lookup_depth()), and public_suffix_label_count() picks the winner. -#}

{#- How many candidate suffixes are looked up: 4, written out in public_suffix_label_count and
    in the joins of int_scrape_pages_with_domain_parts. The ICANN section's longest rule has 4
    labels and its longest wildcard parent 2;
    tests/marts/assert_public_suffix_rules_fit_the_lookup_depth fails if a newer list needs
    more. -#}
{% macro public_suffix_lookup_depth() -%}
    {{ return(4) }}
{%- endmacro %}

{#- Whether a host is an IP literal (IPv4 digits and dots, or a bracketed IPv6): such hosts
    have no public suffix, registrable domain, subdomain or TLD. -#}
{% macro is_ip_host(host) -%}
    ({{ host }} like '[%' or regexp_full_match({{ host }}, '[0-9.]*'))
{%- endmacro %}

{#- The labels of a host as a list ('news.example.co.uk' -> [news, example, co, uk]); NULL
    for NULL and IP hosts. -#}
{% macro host_labels(host) -%}
    case when not {{ is_ip_host(host) }} then string_split({{ host }}, '.') end
{%- endmacro %}

{#- The last n labels of a label list joined by dots; NULL when the list has fewer. -#}
{% macro last_labels(labels, n) -%}
    case when len({{ labels }}) >= {{ n }} then array_to_string(list_slice({{ labels }}, -({{ n }}), -1), '.') end
{%- endmacro %}

{#- Labels in the public suffix of a host with label_count labels, given the seed rows joined
    for its candidate suffixes as <prefix>1 .. <prefix>4 (<prefix>n matched the host's last n
    labels): an exception wins (its suffix is one label shorter), else the longest normal or
    wildcard match (a wildcard parent of n - 1 labels matches n labels when the host has
    them), else 1 (the implicit '*' rule). -#}
{% macro public_suffix_label_count(label_count, prefix) -%}
    case
        when {{ prefix }}4.is_exception then 3
        when {{ prefix }}3.is_exception then 2
        when {{ prefix }}2.is_exception then 1
        when {{ prefix }}4.is_rule or ({{ prefix }}3.is_wildcard_parent and {{ label_count }} >= 4) then 4
        when {{ prefix }}3.is_rule or ({{ prefix }}2.is_wildcard_parent and {{ label_count }} >= 3) then 3
        when {{ prefix }}2.is_rule or ({{ prefix }}1.is_wildcard_parent and {{ label_count }} >= 2) then 2
        else 1
    end
{%- endmacro %}

{#- The registrable domain: the public suffix plus one label ('news.example.co.uk' ->
    'example.co.uk'); NULL when the host is itself a public suffix. -#}
{% macro registered_domain(labels, label_count, suffix_label_count) -%}
    case
        when {{ label_count }} > {{ suffix_label_count }}
            then {{ last_labels(labels, suffix_label_count ~ ' + 1') }}
    end
{%- endmacro %}

{#- The labels left of the registrable domain ('news.blog.example.co.uk' -> 'news.blog',
    'www.example.com' -> 'www'); NULL when there are none ('example.co.uk'). -#}
{% macro subdomain(labels, label_count, suffix_label_count) -%}
    case
        when {{ label_count }} > {{ suffix_label_count }} + 1
            then array_to_string(list_slice({{ labels }}, 1, {{ label_count }} - {{ suffix_label_count }} - 1), '.')
    end
{%- endmacro %}
