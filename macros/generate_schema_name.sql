{#
    A custom schema names an attached SQLite file as it is (`work`), instead of
    dbt's default "<target schema>_<custom schema>", which would name a
    database file that does not exist.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif target.type == 'sqlite' -%}
        {{ custom_schema_name | trim }}
    {%- else -%}
        {#- a server database: a schema beside the target's, "<schema>_work" -#}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
