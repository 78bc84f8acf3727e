{#
    The position (from 1) of the first of the columns that holds a BLOB, or
    0: one expression for reject_blob to branch on.
#}
{% macro first_blob_position(columns) -%}
    {{ return(adapter.dispatch('first_blob_position')(columns)) }}
{%- endmacro %}

{#- SQLite: first_blob() of the project's C extension (row_functions.c),
    one call where a typeof() per column made sixteen for a logbook row. -#}
{% macro sqlite__first_blob_position(columns) -%}
first_blob({{ columns | join(', ') }})
{%- endmacro %}

{% macro postgres__first_blob_position(columns) -%}
case
    {%- for column in columns %}
    when {{ value_type(column) }} = 'blob' then {{ loop.index }}
    {%- endfor %}
    else 0
end
{%- endmacro %}
