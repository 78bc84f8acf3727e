{#
    The scope of a run: one user (var user_id) and a subset of entity types
    (var entity_types, or the documented models selected by tag). Values from the
    command line are data: they reach SQL only as escaped string literals.
#}

{% macro sync_entity_types() -%}
    {%- set known = migration_entity_types() -%}
    {%- set wanted = var('entity_types', none) or known -%}
    {%- if wanted is string -%}
        {%- set wanted = wanted.split(',') | map('trim') | reject('equalto', '') | list -%}
    {%- endif -%}
    {%- for entity_type in wanted -%}
        {%- if entity_type not in known -%}
            {{ exceptions.raise_compiler_error(
                "Unknown entity type '" ~ entity_type ~ "' in var entity_types; "
                ~ "use any of: " ~ known | join(', ')
            ) }}
        {%- endif -%}
    {%- endfor -%}
    {#- Selecting documented models by tag narrows the run to their entity types. -#}
    {%- set selected = [] -%}
    {%- if execute -%}
        {%- for node in (graph.get('nodes') or {}).values() -%}
            {%- if node.resource_type == 'model'
                and node.unique_id in selected_resources
                and node.config.meta.get('entity_type') -%}
                {%- do selected.append(node.config.meta['entity_type']) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if selected | length > 0 -%}
        {{ return(known | select('in', wanted) | select('in', selected) | list) }}
    {%- endif -%}
    {{ return(known | select('in', wanted) | list) }}
{%- endmacro %}

{% macro sync_user_id() -%}
    {%- set user_id = var('user_id', none) -%}
    {%- if user_id is none or user_id == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(user_id | string) }}
{%- endmacro %}

{#
    The where-clause of a backend staging model: true for the rows of its entity type
    and user in this run's scope, false for everything else.
#}
{% macro in_run_scope(entity_type, user_column='user_id') -%}
    {%- if entity_type not in sync_entity_types() -%}
        false
    {%- elif sync_user_id() is none -%}
        true
    {%- else -%}
        {{ user_column }} = {{ sql_string(sync_user_id()) }}
    {%- endif -%}
{%- endmacro %}

{# The scope of the run as a where-clause on a table with entity_type, user_id. #}
{% macro run_scope_where(alias) -%}
    {{ alias }}.entity_type in ({{ sql_string_list(sync_entity_types()) }})
    {%- if sync_user_id() is not none %}
    and {{ alias }}.user_id = {{ sql_string(sync_user_id()) }}
    {%- endif %}
{%- endmacro %}
