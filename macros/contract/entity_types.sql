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
