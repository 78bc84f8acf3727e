{#
    The kind of the top-level value of a valid JSON text, as SQLite's
    json_type() names it: 'object', 'array', 'text', 'integer', 'real',
    'true', 'false' or 'null'.
    Arguments:
    - expr: SQL expression of valid JSON text
#}
{% macro json_kind(expr) -%}
    {{ return(adapter.dispatch('json_kind')(expr)) }}
{%- endmacro %}

{% macro sqlite__json_kind(expr) -%}
json_type({{ expr }})
{%- endmacro %}
