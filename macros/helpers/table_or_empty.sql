{#
    A table's rows, or, while it does not exist yet, a stand-in with its
    columns and no rows: for the models that read a table the first run
    creates.
#}
{% macro table_or_empty(relation, columns) -%}
    {%- if execute and load_relation(relation) is not none -%}
        select * from {{ relation }}
    {%- else -%}
        select
            {%- for column in columns %}
            null as {{ column }}{{ "," if not loop.last }}
            {%- endfor %}
        where 1 = 0
    {%- endif -%}
{%- endmacro %}
