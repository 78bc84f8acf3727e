{#
    The storage class of a value as SQLite's typeof() names it: 'null',
    'integer', 'real', 'text' or 'blob'. The reject checks ask it because a
    SQLite column holds whatever was written into it; on an engine with typed
    columns the answer follows the column's declared type.
#}
{% macro value_type(expr) -%}
    {{ return(adapter.dispatch('value_type')(expr)) }}
{%- endmacro %}

{% macro sqlite__value_type(expr) -%}
typeof({{ expr }})
{%- endmacro %}

{#- PostgreSQL: typed columns; the declared type names the storage class. -#}
{% macro postgres__value_type(expr) -%}
case
    when {{ expr }} is null then 'null'
    when pg_typeof({{ expr }}) in ('text'::regtype, 'character varying'::regtype)
        then 'text'
    when pg_typeof({{ expr }}) in ('bigint'::regtype, 'integer'::regtype, 'smallint'::regtype)
        then 'integer'
    when pg_typeof({{ expr }}) in ('numeric'::regtype, 'double precision'::regtype, 'real'::regtype)
        then 'real'
    when pg_typeof({{ expr }}) = 'bytea'::regtype then 'blob'
    {#- preflight refuses a backend column of any other type before a run -#}
    else 'unsupported'
end
{%- endmacro %}
