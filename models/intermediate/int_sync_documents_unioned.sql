{{ config(materialized='ephemeral') }}

{#
    The documents of this run's scope as one set of candidate sync_data rows
    (the documented models keep the documents of earlier runs, and of other
    scopes, too), with the one rule a document alone cannot check: the user
    must exist. Ephemeral, and without the document itself: the merge
    compares checksums and looks a document up (cached_document) only for
    the rows it writes, so the comparison copies narrow rows.
    Only the entity types in the run's scope are read: a tag-selected run
    builds only its own documented model, and on a fresh database the others
    do not exist yet. The refs stay outside the condition, for the DAG.
#}

{%- set tables = migration_entity_tables() -%}
{%- set documents = {} -%}
{%- for entity_type, table in tables.items() -%}
    {%- set cache = ref('int_' ~ table ~ '_documented') -%}
    {%- do documents.update({entity_type: cache}) -%}
{%- endfor -%}
{%- set in_scope = sync_entity_types() -%}
{#- On D1 (var d1_row_limit, set by scripts/d1) a row past D1's row limit
    could never be pushed: it is a reject, not a failed push. -#}
{%- set d1_row_limit = var('d1_row_limit', none) -%}
{%- if execute and not in_scope -%}
    {{ exceptions.raise_compiler_error(
        "The selected models and var entity_types have no entity type "
        ~ "in common, so there is nothing to migrate; widen one of them.") }}
{%- endif %}
{#- A merge reads the documents this invocation built: merging a cache built
    earlier would miss every backend change since. -#}
{%- if execute and flags.WHICH in ['run', 'build'] -%}
    {%- set merging = [] -%}
    {%- set stale = [] -%}
    {%- for node in graph.nodes.values() if node.unique_id in selected_resources -%}
        {%- if node.resource_type == 'model' and node.name == 'sync_data' -%}
            {%- do merging.append(node.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for entity_type in in_scope if 'model.' ~ project_name ~ '.'
        ~ documents[entity_type].identifier not in selected_resources -%}
        {%- do stale.append(documents[entity_type].identifier) -%}
    {%- endfor -%}
    {%- if merging and stale -%}
        {{ exceptions.raise_compiler_error(
            "sync_data would merge documents that this run did not build ("
            ~ stale | join(', ') ~ " not selected), missing every backend change "
            ~ "since they were. Select them too: --select +sync_data, or "
            ~ "tag:<entity type>+ for one entity type. Nothing was merged.") }}
    {%- endif -%}
{%- endif %}

with

users as (
    select * from {{ ref('stg_backend__users') }}
),

every_key as (
    {{ merge_reads_every_key() }}
),

{# A narrowed merge (merge_narrowing.sql) reads only its keys' documents,
    through the cache's index; every other reader reads them all. #}
unioned as (
    {%- for entity_type in in_scope %}
        select
            cached.{{ cache_lookup_column() }} as cache_lookup,
            cached.*
        from every_key
        cross join {{ documents[entity_type] }} as cached
        where {{ in_run_scope(entity_type, 'cached.user_id') }}
        union all
        select
            cached.{{ cache_lookup_column() }} as cache_lookup,
            cached.*
        from {{ documents[entity_type] }} as cached
        where
            {{ in_run_scope(entity_type, 'cached.user_id') }}
            and cached.entity_key in ({{ merge_keys_of(entity_type) }})
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

final as (
    select
        unioned.entity_type,
        unioned.entity_id,
        unioned.user_id,
        unioned.entity_key,
        unioned.cache_lookup,
        unioned.backend_deleted,
        case
            when unioned.reject_reason is null
                then {{ checksum_text('unioned.checksum') }}
        end as checksum,
        coalesce(
            unioned.reject_reason,
            case
                when unioned.user_id is null
                    then 'orphan_user: user_id: the user_id is null'
                when users.id is null
                    then
                        'orphan_user: user_id: '
                        || substr(unioned.user_id, 1, 60)
                        || ' names no user'
                {%- if d1_row_limit is not none %}
                when {{ d1_row_size('unioned') }} > {{ d1_row_limit }}
                    then
                        'too_large_for_d1: data: the sync_data row would be '
                        || {{ d1_row_size('unioned') }} || ' bytes, over D1''s '
                        || '{{ d1_row_limit }}-byte row limit'
                {%- endif %}
            end
        ) as reject_reason,
        case
            when unioned.reject_reason is not null then unioned.reject_value
            when users.id is null then substr(unioned.user_id, 1, 200)
        end as reject_value
    from unioned
    left join users on unioned.user_id = users.id
)

select * from final
