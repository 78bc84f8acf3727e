{#
    Where `needle` first occurs in `haystack`, counting from 1; 0 when it
    does not occur.
#}
{% macro text_position(haystack, needle) -%}
    {{ return(adapter.dispatch('text_position')(haystack, needle)) }}
{%- endmacro %}

{% macro sqlite__text_position(haystack, needle) -%}
instr({{ haystack }}, {{ needle }})
{%- endmacro %}

{% macro postgres__text_position(haystack, needle) -%}
strpos({{ haystack }}, {{ needle }})
{%- endmacro %}
