{#
    The column holds the lower-case hex SHA-256 of text_column, row by row.
#}
{% test is_sha256_of(model, column_name, text_column) %}

select {{ column_name }}, {{ text_column }}
from {{ model }}
where
    {{ column_name }} is distinct from {{ sha256_hex(text_column) }}
    {{ migration_rows_filter(model) }}

{% endtest %}
