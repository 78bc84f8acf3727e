{#
    The entity types the migration writes, each with the backend table it
    comes from, in the order runs report them. Every list of entity types in
    the project is read from here.
#}
{% macro migration_entity_tables() -%}
    {{ return({
        'logbook_entry': 'logbook_entries',
        'goal': 'goals',
        'practice_session': 'practice_sessions',
    }) }}
{%- endmacro %}

{% macro migration_entity_types() -%}
    {{ return(migration_entity_tables().keys() | list) }}
{%- endmacro %}

{#
    In a data test configured with meta {migration_rows_only: true}: the
    condition that keeps the rows of the migration's entity types (a custom
    macro cannot fill a test's `where` config, so the test asks for it).
#}
{% macro migration_rows_filter() -%}
    {%- if (config.get('meta') or {}).get('migration_rows_only') -%}
        and entity_type in ({{ sql_string_list(migration_entity_types()) }})
    {%- endif -%}
{%- endmacro %}

{# The entity type a backend table's rows become. #}
{% macro entity_type_of(table_name) -%}
    {%- for entity_type, table in migration_entity_tables().items() if table == table_name -%}
        {{ return(entity_type) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("No entity type comes from table " ~ table_name) }}
{%- endmacro %}
