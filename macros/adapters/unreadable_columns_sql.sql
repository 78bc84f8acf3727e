{#
    The query that lists the columns of a backend table whose declared type
    the project cannot read (columns: name, data_type), or '' where every
    column can hold anything (SQLite).
#}
{% macro unreadable_columns_sql(table_name) -%}
    {{ return(adapter.dispatch('unreadable_columns_sql')(table_name)) }}
{%- endmacro %}

{% macro sqlite__unreadable_columns_sql(table_name) -%}
{%- endmacro %}

{#-
    PostgreSQL: value_type() knows text, the integer types, numeric, real and
    double precision; a jsonb or timestamp column would be misread.
-#}
{% macro postgres__unreadable_columns_sql(table_name) -%}
    select column_name as name, data_type from information_schema.columns
    where table_schema = {{ sql_string(target.schema) }}
        and table_name = {{ sql_string(table_name) }}
        and data_type not in (
            'text', 'character varying', 'bigint', 'integer', 'smallint',
            'numeric', 'real', 'double precision'
        )
{%- endmacro %}
