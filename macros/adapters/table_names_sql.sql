{#
    The query that lists the tables of the target schema (one column: name).
#}
{% macro table_names_sql() -%}
    {{ return(adapter.dispatch('table_names_sql')()) }}
{%- endmacro %}

{% macro sqlite__table_names_sql() -%}
    select name from main.sqlite_master where type = 'table'
{%- endmacro %}

{% macro postgres__table_names_sql() -%}
    select table_name as name from information_schema.tables
    where table_schema = {{ sql_string(target.schema) }}
{%- endmacro %}
