{#
    A value written as an SQL literal ('it''s', 42, NULL): how the reject
    reasons show an offending value, and what the staging fingerprint hashes,
    so that NULL, '' and the text '1' and the number 1 all read differently.
    Arguments:
    - expr: SQL expression
#}
{% macro sql_literal(expr) -%}
    {{ return(adapter.dispatch('sql_literal')(expr)) }}
{%- endmacro %}

{% macro sqlite__sql_literal(expr) -%}
quote({{ expr }})
{%- endmacro %}

{#
    The SQL literals of several columns joined by commas: one text that
    changes whenever any of their values does (for hashing a whole row).
    Arguments:
    - columns: list of column names
#}
{% macro literal_list(columns) -%}
    {%- set literals = [] -%}
    {%- for column in columns -%}
        {%- do literals.append(sql_literal(column)) -%}
    {%- endfor -%}
    {{ literals | join(" || ',' || ") }}
{%- endmacro %}

{% macro postgres__sql_literal(expr) -%}
quote_nullable({{ expr }})
{%- endmacro %}
