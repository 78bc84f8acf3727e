{#
    A BLOB's bytes as upper-case hex, to show a rejected binary value.
    Arguments:
    - expr: SQL expression of a BLOB
#}
{% macro blob_hex(expr) -%}
    {{ return(adapter.dispatch('blob_hex')(expr)) }}
{%- endmacro %}

{% macro sqlite__blob_hex(expr) -%}
hex({{ expr }})
{%- endmacro %}
