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
    condition that keeps the rows the migration owns (per the ownership
    ledger; of its entity types where there is no ledger yet), so that only
    they can fail it: the API's own rows are the API's. A custom macro cannot
    fill a test's `where` config, so the test asks for it.
#}
{% macro migration_rows_filter(relation) -%}
    {%- if (config.get('meta') or {}).get('migration_rows_only') -%}
        and entity_type in ({{ sql_string_list(migration_entity_types()) }})
        {%- if execute and load_relation(migration_ledger_relation()) is not none %}
        and exists (
            select 1
            from {{ migration_ledger_relation() }} as owned
            where
                owned.user_id = {{ relation.identifier }}.user_id
                and owned.entity_type = {{ relation.identifier }}.entity_type
                and owned.entity_id = {{ relation.identifier }}.entity_id
        )
        {%- endif %}
    {%- endif -%}
{%- endmacro %}

{# The entity type a backend table's rows become. #}
{% macro entity_type_of(table_name) -%}
    {%- for entity_type, table in migration_entity_tables().items() if table == table_name -%}
        {{ return(entity_type) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("No entity type comes from table " ~ table_name) }}
{%- endmacro %}
