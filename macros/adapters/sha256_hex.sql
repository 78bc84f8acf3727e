{#
    Lower-case hex SHA-256 of the UTF-8 bytes of a text; NULL for NULL.
#}
{% macro sha256_hex(expr) -%}
    {{ return(adapter.dispatch('sha256_hex')(expr)) }}
{%- endmacro %}

{#- SQLite: sha256_hex() of the project's C extension
    (extensions/sqlite/row_functions.c). -#}
{% macro sqlite__sha256_hex(expr) -%}
sha256_hex({{ expr }})
{%- endmacro %}

{% macro postgres__sha256_hex(expr) -%}
encode(sha256(convert_to({{ expr }}, 'UTF8')), 'hex')
{%- endmacro %}
