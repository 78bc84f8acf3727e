{#
    The column holds the lower-case hex SHA-256 of text_column, row by row
    (either as the document cache stores them, see document_storage.sql).
#}
{% test is_sha256_of(model, column_name, text_column) %}

select {{ column_name }}, {{ text_column }}
from {{ model }}
where
    {{ checksum_text(column_name) }}
    is distinct from {{ sha256_hex(unpack_document(text_column)) }}
    {{ migration_rows_filter(model) }}

{% endtest %}
