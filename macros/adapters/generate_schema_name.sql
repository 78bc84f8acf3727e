{#
    A custom schema names an attached SQLite file as it is (`work`), instead of
    dbt's default "<target schema>_<custom schema>", which would name a
    database file that does not exist.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ adapter.dispatch('custom_schema_name')(custom_schema_name | trim) }}
    {%- endif -%}
{%- endmacro %}

{#
    The schema a custom schema name (`work`) stands for on the engine.
#}
{% macro sqlite__custom_schema_name(custom_schema_name) -%}
    {{ custom_schema_name }}
{%- endmacro %}

{#- a server database: a schema beside the target's, "<schema>_work" -#}
{% macro postgres__custom_schema_name(custom_schema_name) -%}
    {{ target.schema }}_{{ custom_schema_name }}
{%- endmacro %}
