{#
    A value already known to be stored as a number (value_type 'integer' or
    'real'), as a number. Callers guard it with a case on value_type: an
    engine with typed columns must still type-check the expression for a
    text column, where it is never evaluated.
#}
{% macro as_number(expr) -%}
    {{ return(adapter.dispatch('as_number')(expr)) }}
{%- endmacro %}

{% macro sqlite__as_number(expr) -%}
{{ expr }}
{%- endmacro %}

{% macro postgres__as_number(expr) -%}
cast(cast({{ expr }} as text) as numeric)
{%- endmacro %}
