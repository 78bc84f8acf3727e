{#
    run-operation create_dev_tables: an empty dev database, with the backend
    tables (backend DDL) and sync_data (the API's DDL), for test fixtures and
    for trying the project on hand-made rows. Refuses any target but dev and
    never touches a table that exists.
#}
{% macro create_dev_tables() -%}
    {% do create_backend_tables() %}
    {% do create_sync_data_table(api.Relation.create(schema=target.schema, identifier='sync_data')) %}
    {% do adapter.commit() %}
{%- endmacro %}
