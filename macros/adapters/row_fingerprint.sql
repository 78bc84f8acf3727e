{#
    A fingerprint of a row's values (see _adapters__macros.yml): what the
    document cache compares to know whether a backend row changed.
#}
{% macro row_fingerprint(salt, columns) -%}
    {{ return(adapter.dispatch('row_fingerprint')(salt, columns)) }}
{%- endmacro %}

{% macro sqlite__row_fingerprint(salt, columns) -%}
row_fingerprint({{ salt }}, {{ columns | join(', ') }})
{%- endmacro %}

{% macro postgres__row_fingerprint(salt, columns) -%}
    {{ sha256_hex(salt ~ " || ',' || " ~ literal_list(columns)) }}
{%- endmacro %}
