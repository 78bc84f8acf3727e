{#
    Every non-null value of the column is well-formed JSON text (or a
    document as the document cache stores it, see document_storage.sql).
#}
{% test is_valid_json(model, column_name) %}

select {{ column_name }}
from {{ model }}
where
    {{ column_name }} is not null
    and not {{ json_is_valid(unpack_document(column_name)) }}
    {{ migration_rows_filter(model) }}

{% endtest %}
