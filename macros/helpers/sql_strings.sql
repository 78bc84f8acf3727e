{#
    The SQL literals of several columns joined by commas: one text that
    changes whenever any of their values does (for hashing a whole row).
#}
{% macro literal_list(columns) -%}
    {%- set literals = [] -%}
    {%- for column in columns -%}
        {%- do literals.append(sql_literal(column)) -%}
    {%- endfor -%}
    {{ literals | join(" || ',' || ") }}
{%- endmacro %}

{# A Python value as a SQL string literal: quotes doubled, never spliced. #}
{% macro sql_string(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{# Python values as a comma-separated list of SQL string literals. #}
{% macro sql_string_list(values) -%}
    {%- for value in values -%}
        {{ sql_string(value) }}{% if not loop.last %}, {% endif %}
    {%- endfor -%}
{%- endmacro %}
