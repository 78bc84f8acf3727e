{#
    Lower-case hex SHA-256 of the UTF-8 bytes of a text. SQLite has no SHA-256:
    sha256() comes from sqlean's crypto extension, which every profile target
    loads (profiles.yml, `extensions:`).
#}
{% macro sha256_hex(expr) -%}
    {{ return(adapter.dispatch('sha256_hex')(expr)) }}
{%- endmacro %}

{% macro sqlite__sha256_hex(expr) -%}
lower(hex(sha256({{ expr }})))
{%- endmacro %}

{% macro postgres__sha256_hex(expr) -%}
encode(sha256(convert_to({{ expr }}, 'UTF8')), 'hex')
{%- endmacro %}
