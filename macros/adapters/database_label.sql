{#
    A schema as the operator knows it, for messages: on SQLite "database
    <file>" for the target's schema and "<schema> file <file>" for an attached
    one (the work file); on PostgreSQL "schema <schema> of database <dbname>".
#}
{% macro database_label(schema) -%}
    {{ return(adapter.dispatch('database_label')(schema)) }}
{%- endmacro %}

{% macro sqlite__database_label(schema) -%}
    {%- set path = target.schemas_and_paths.get(schema) -%}
    {%- if path is none -%}
        {{ return("database " ~ target.schemas_and_paths['main']) }}
    {%- endif -%}
    {{ return(("database " if schema == target.schema else schema ~ " file ") ~ path) }}
{%- endmacro %}

{% macro postgres__database_label(schema) -%}
    {{ return("schema " ~ schema ~ " of database " ~ target.dbname) }}
{%- endmacro %}
