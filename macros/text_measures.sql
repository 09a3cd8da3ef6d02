{#- Measures of a page body. NULL body: NULL measures (nothing was extracted); empty or
    blank body: 0. The bodies are the largest input of the warehouse (about 1.8 GB of text
    per million pages), so each measure makes one or two linear passes over the text and
    builds no list of pieces it then has to filter (bench figures in bench/README.md). -#}

{#- Whitespace, for every measure: space, tab, newline, carriage return, form feed and vertical
    tab (RE2's [ \t\n\r\f\v]; not the no-break space). -#}

{#- Characters (Unicode code points), not bytes. -#}
{% macro text_length(column) -%}
    length({{ column }})
{%- endmacro %}

{#- Whether a text holds whitespace characters only (true for ''); NULL for NULL. Anchored, so
    it stops at the first other character. -#}
{% macro is_blank_text(column) -%}
    regexp_full_match({{ column }}, '[ \t\n\r\f\v]*')
{%- endmacro %}

{#- Words: maximal runs of characters other than whitespace, counted by the dbt plugin's
    function chrono_word_count (loaders/chrono_analytics/text_measures.py: one compiled pass
    over the UTF-8 bytes, about four times faster than the fastest SQL found, a regular
    expression normalising whitespace then string_split). It exists on the connections dbt
    opens: a session of its own that queries a view counting words (stg_chrono__scrape_pages)
    registers it first (text_measures.register), as it attaches the source. -#}
{% macro word_count(column) -%}
    chrono_word_count({{ column }})
{%- endmacro %}

{#- Paragraphs: blocks of text separated by one or more blank lines (lines of whitespace
    characters only). The text is split where a blank line starts, each separator swallowing
    the whitespace after it, so only the first piece (whitespace before a blank line at the
    very start) and the last piece (after a blank line at the very end) can be blank; those
    are recognized by two anchored regular expressions and not counted. -#}
{% macro paragraph_count(column) -%}
    case
        when {{ is_blank_text(column) }} then 0
        else len(regexp_split_to_array({{ column }}, '\n[ \t\r\f\v]*\n[ \t\n\r\f\v]*'))
            - regexp_matches({{ column }}, '^[ \t\r\f\v]*\n[ \t\r\f\v]*\n')::integer
            - regexp_matches({{ column }}, '\n[ \t\r\f\v]*\n[ \t\n\r\f\v]*$')::integer
    end
{%- endmacro %}
