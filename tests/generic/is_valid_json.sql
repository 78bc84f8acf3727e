{#
    Every non-null value of the column is well-formed JSON text.
#}
{% test is_valid_json(model, column_name) %}

select {{ column_name }}
from {{ model }}
where
    {{ column_name }} is not null and not {{ json_is_valid(column_name) }}
    {{ migration_rows_filter(model) }}

{% endtest %}
