{#
    1 when a backend row is soft-deleted, else 0 (contract, "The schema
    production has now": a row whose deleted_at is set is deleted). The
    column is read only where the table has it, looked up in the database
    on every run; deleted_at is not part of any document.
#}
{% macro backend_deleted_flag(relation) -%}
    {%- set present = [] -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(relation)
            if column.name | lower == 'deleted_at' -%}
            {%- do present.append(column.name) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if present -%}
        case when {{ is_unset_timestamp(present[0]) }} then 0 else 1 end
    {%- else -%}
        0
    {%- endif -%}
{%- endmacro %}
