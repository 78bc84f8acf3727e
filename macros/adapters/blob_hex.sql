{#
    A BLOB's bytes as upper-case hex, to show a rejected binary value.
#}
{% macro blob_hex(expr) -%}
    {{ return(adapter.dispatch('blob_hex')(expr)) }}
{%- endmacro %}

{% macro sqlite__blob_hex(expr) -%}
hex({{ expr }})
{%- endmacro %}

{#- PostgreSQL: every branch must type-check, so any value is read as text bytes. -#}
{% macro postgres__blob_hex(expr) -%}
upper(encode(convert_to(cast({{ expr }} as text), 'UTF8'), 'hex'))
{%- endmacro %}
