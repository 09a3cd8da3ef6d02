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

{#- Words: maximal runs of characters other than whitespace. Every run of two or
    more whitespace characters and every whitespace character other than a space becomes one
    space (the regular expression matches only there, which is rare in prose); the words are
    then the pieces between single spaces, less the empty piece before a leading and after a
    trailing whitespace character (codes 9 to 13 and 32). Two traps avoided: a trim of the
    text first would cost more than the whole count (DuckDB's trim with a character list is
    slow on long strings), and an IN list here becomes a join that no query can prune, so
    every query on the view, whatever its columns, would ship the bodies. -#}
{% macro word_count(column) -%}
    case
        when {{ is_blank_text(column) }} then 0
        else len(string_split(regexp_replace({{ column }}, '[ \t\n\r\f\v]{2,}|[\t\n\r\f\v]', ' ', 'g'), ' '))
            - (ascii({{ column }}) = 32 or ascii({{ column }}) between 9 and 13)::integer
            - (
                suffix({{ column }}, ' ') or suffix({{ column }}, e'\t') or suffix({{ column }}, e'\n')
                or suffix({{ column }}, e'\r') or suffix({{ column }}, e'\f') or suffix({{ column }}, chr(11))
            )::integer
    end
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
