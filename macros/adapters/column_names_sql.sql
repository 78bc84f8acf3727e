{#
    The query that lists the columns of a table of the target schema (one
    column: name).
#}
{% macro column_names_sql(table_name) -%}
    {{ return(adapter.dispatch('column_names_sql')(table_name)) }}
{%- endmacro %}

{% macro sqlite__column_names_sql(table_name) -%}
    select name from pragma_table_info({{ sql_string(table_name) }}, 'main')
{%- endmacro %}

{% macro postgres__column_names_sql(table_name) -%}
    select column_name as name from information_schema.columns
    where table_schema = {{ sql_string(target.schema) }}
        and table_name = {{ sql_string(table_name) }}
{%- endmacro %}
