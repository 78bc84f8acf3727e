{#
    A number of milliseconds truncated toward zero to a whole number, as
    new Date(x) does (1.999 is 1, -1.5 is -1).
#}
{% macro whole_ms(expr) -%}
    {{ return(adapter.dispatch('whole_ms')(expr)) }}
{%- endmacro %}

{% macro sqlite__whole_ms(expr) -%}
cast({{ expr }} as integer)
{%- endmacro %}

{% macro postgres__whole_ms(expr) -%}
cast(trunc({{ as_number(expr) }}) as bigint)
{%- endmacro %}
