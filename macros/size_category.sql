{#- Size class of a content length in bytes (binary units): tiny < 1 KiB, small < 10 KiB,
    medium < 100 KiB, large < 1 MiB, huge from 1 MiB. 0 bytes (an empty response: a
    known size) is 'tiny'; NULL (size unknown) and negative values give NULL. -#}
{% macro content_size_category(size_bytes) -%}
    case
        when {{ size_bytes }} < 0 then null
        when {{ size_bytes }} < 1024 then 'tiny'
        when {{ size_bytes }} < 10240 then 'small'
        when {{ size_bytes }} < 102400 then 'medium'
        when {{ size_bytes }} < 1048576 then 'large'
        when {{ size_bytes }} >= 1048576 then 'huge'
    end
{%- endmacro %}
