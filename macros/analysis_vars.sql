{#- Typed vars of the analyses (analyses/): each returns a SQL literal of the var's value, or
    fails the compilation with a message naming the var and what was wrong. No var text ever
    reaches the SQL unchecked. -#}

{#- A calendar date var ('YYYY-MM-DD') as a SQL date literal; `default` when the var is unset
    (none: SQL null). not_before: the name of another date var this one may not precede (the
    end of a range names its start). -#}
{% macro analysis_date_var(name, default=none, not_before=none) -%}
    {%- set value = var(name, default) -%}
    {%- if value is none -%}
        null
    {%- else -%}
        {%- set text = value | string | trim -%}
        {%- set well_formed = text | length == 10 and text.isascii() and text[4] == '-' and text[7] == '-'
            and text[0:4].isdigit() and text[5:7].isdigit() and text[8:10].isdigit() -%}
        {%- if not well_formed -%}
            {{ exceptions.raise_compiler_error(
                "var " ~ name ~ " must be a date YYYY-MM-DD, got '" ~ text ~ "'"
            ) }}
        {%- endif -%}
        {%- set year = text[0:4] | int -%}
        {%- set month = text[5:7] | int -%}
        {%- set day = text[8:10] | int -%}
        {%- set leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 -%}
        {%- set month_days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] -%}
        {%- if month < 1 or month > 12 or day < 1 or day > month_days[month - 1] -%}
            {{ exceptions.raise_compiler_error(
                "var " ~ name ~ " is not a calendar date: '" ~ text ~ "'"
            ) }}
        {%- endif -%}
        {%- set earliest = var(not_before, none) if not_before else none -%}
        {%- if earliest is not none and text < (earliest | string | trim) -%}
            {{ exceptions.raise_compiler_error(
                "var " ~ name ~ " (" ~ text ~ ") is before var " ~ not_before ~ " ("
                ~ (earliest | string | trim) ~ ")"
            ) }}
        {%- endif -%}
        date '{{ text }}'
    {%- endif -%}
{%- endmacro %}

{#- An integer var between minimum and maximum (inclusive) as a SQL integer literal; `default`
    when the var is unset (none: SQL null). -#}
{% macro analysis_integer_var(name, default=none, minimum=none, maximum=none) -%}
    {%- set value = var(name, default) -%}
    {%- if value is none -%}
        null
    {%- else -%}
        {%- set text = value | string | trim -%}
        {%- set digits = text[1:] if text[0:1] == '-' else text -%}
        {%- if not (digits.isdigit() and digits.isascii() and digits | length <= 18) -%}
            {{ exceptions.raise_compiler_error(
                "var " ~ name ~ " must be an integer, got '" ~ text ~ "'"
            ) }}
        {%- endif -%}
        {%- set number = text | int -%}
        {%- if (minimum is not none and number < minimum)
            or (maximum is not none and number > maximum) -%}
            {{ exceptions.raise_compiler_error(
                "var " ~ name ~ " must be between " ~ minimum ~ " and " ~ maximum ~ ", got "
                ~ number
            ) }}
        {%- endif -%}
        {{ number }}
    {%- endif -%}
{%- endmacro %}
