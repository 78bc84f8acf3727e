{#
    A value written as an SQL literal ('it''s', 42, NULL): how the reject
    reasons show an offending value, and what the document cache's fingerprint hashes,
    so that NULL, '' and the text '1' and the number 1 all read differently
    (on PostgreSQL a column has one type, so only NULL and '' need telling
    apart there).
#}
{% macro sql_literal(expr) -%}
    {{ return(adapter.dispatch('sql_literal')(expr)) }}
{%- endmacro %}

{% macro sqlite__sql_literal(expr) -%}
quote({{ expr }})
{%- endmacro %}

{#-
    PostgreSQL: written as SQLite's quote() writes it (quote_nullable would
    write a backslash as E'\\'): NULL, a number bare, text in quotes with
    quotes doubled.
-#}
{% macro postgres__sql_literal(expr) -%}
case
    when {{ expr }} is null then 'NULL'
    when {{ value_type(expr) }} in ('integer', 'real') then cast({{ expr }} as text)
    else '''' || replace(cast({{ expr }} as text), '''', '''''') || ''''
end
{%- endmacro %}
