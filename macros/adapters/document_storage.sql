{#
    How the document cache stores a document, its checksum and its row
    fingerprint. SQLite: as BLOBs (doc_pack, sha256_digest and row_fingerprint
    of the project's C extension, extensions/sqlite/document_pack.c), which
    keeps the work file small; PostgreSQL: as text, as sync_data holds them.
    Readers go through unpack_document and checksum_text, which also read a
    text stored by an earlier version as it is.
#}
{% macro pack_document(expr) -%}
    {{ return(adapter.dispatch('pack_document')(expr)) }}
{%- endmacro %}

{% macro sqlite__pack_document(expr) -%}
doc_pack({{ expr }})
{%- endmacro %}

{% macro postgres__pack_document(expr) -%}
{{ expr }}
{%- endmacro %}

{% macro unpack_document(expr) -%}
    {{ return(adapter.dispatch('unpack_document')(expr)) }}
{%- endmacro %}

{% macro sqlite__unpack_document(expr) -%}
doc_unpack({{ expr }})
{%- endmacro %}

{% macro postgres__unpack_document(expr) -%}
{{ expr }}
{%- endmacro %}

{% macro stored_checksum(document) -%}
    {{ return(adapter.dispatch('stored_checksum')(document)) }}
{%- endmacro %}

{% macro sqlite__stored_checksum(document) -%}
sha256_digest({{ document }})
{%- endmacro %}

{% macro postgres__stored_checksum(document) -%}
{{ sha256_hex(document) }}
{%- endmacro %}

{% macro checksum_text(expr) -%}
    {{ return(adapter.dispatch('checksum_text')(expr)) }}
{%- endmacro %}

{% macro sqlite__checksum_text(expr) -%}
hex_text({{ expr }})
{%- endmacro %}

{% macro postgres__checksum_text(expr) -%}
{{ expr }}
{%- endmacro %}

{% macro stored_type() -%}
    {{ return(adapter.dispatch('stored_type')()) }}
{%- endmacro %}

{% macro sqlite__stored_type() -%}
blob
{%- endmacro %}

{% macro postgres__stored_type() -%}
text
{%- endmacro %}

{% macro cache_lookup_column() -%}
    {{ return(adapter.dispatch('cache_lookup_column')()) }}
{%- endmacro %}

{% macro sqlite__cache_lookup_column() -%}
rowid
{%- endmacro %}

{% macro postgres__cache_lookup_column() -%}
entity_key
{%- endmacro %}
