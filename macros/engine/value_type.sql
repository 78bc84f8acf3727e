{#
    The storage class of a value as SQLite's typeof() names it: 'null',
    'integer', 'real', 'text' or 'blob'. The reject checks ask it because a
    SQLite column holds whatever was written into it; on an engine with typed
    columns the answer follows the column's declared type.
    Arguments:
    - expr: SQL expression
#}
{% macro value_type(expr) -%}
    {{ return(adapter.dispatch('value_type')(expr)) }}
{%- endmacro %}

{% macro sqlite__value_type(expr) -%}
typeof({{ expr }})
{%- endmacro %}
