{#
    A text expression that sorts by its bytes on every engine, so that the
    merge numbers rows (ids, seq) in the same order on SQLite (BINARY) and
    PostgreSQL (whose default collation follows the locale).
#}
{% macro binary_sort(expr) -%}
    {{ return(adapter.dispatch('binary_sort')(expr)) }}
{%- endmacro %}

{% macro sqlite__binary_sort(expr) -%}
{{ expr }}
{%- endmacro %}

{% macro postgres__binary_sort(expr) -%}
{{ expr }} collate "C"
{%- endmacro %}
