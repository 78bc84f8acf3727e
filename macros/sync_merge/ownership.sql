{#
    The ownership ledger (contract, "Which rows the migration may change"):
    one row per sync_data key the migration wrote or adopted, with the
    checksum it last left there and whether the backend row was deleted
    then. A sync_data row without a ledger entry is the API's, and the
    merge, verification and rollback leave it alone.
#}
{% macro migration_ledger_relation() -%}
    {{ return(api.Relation.create(
        database=target.database, schema=target.schema, identifier='migration_ledger', type='table')) }}
{%- endmacro %}

{#
    Whether the ledger exists yet: before the first merge creates it,
    stg_api__migration_ledger reads a stand-in with no rows.
#}
{% macro migration_ledger_exists() -%}
    {{ return(execute and load_relation(migration_ledger_relation()) is not none) }}
{%- endmacro %}

{% macro create_migration_ledger_table() -%}
    create table if not exists {{ migration_ledger_relation() }} (
        user_id text not null,
        entity_type text not null,
        entity_id text not null,
        checksum text not null,
        backend_deleted integer not null default 0,
        owned_since text not null,
        last_written_at text not null,
        last_run_id text not null,
        primary key (user_id, entity_type, entity_id)
    )
{%- endmacro %}

{#
    The ledger by entity_id, whatever the user: a narrowed merge finds the
    entries of its keys with it (stg_api__migration_ledger).
#}
{% macro index_migration_ledger_by_entity() -%}
    {{ return(adapter.dispatch('index_migration_ledger_by_entity')()) }}
{%- endmacro %}

{% macro sqlite__index_migration_ledger_by_entity() -%}
    {%- set ledger = migration_ledger_relation() -%}
    create index if not exists {{ ledger.schema }}.migration_ledger_by_entity
    on {{ ledger.identifier }} (entity_type, entity_id)
{%- endmacro %}

{% macro postgres__index_migration_ledger_by_entity() -%}
    create index if not exists migration_ledger_by_entity
    on {{ migration_ledger_relation() }} (entity_type, entity_id)
{%- endmacro %}

{#
    The merge's ledger updates: every key it wrote or adopted now holds what
    sync_data holds after the merge (a tombstone keeps the row's checksum).
#}
{% macro record_ownership_sql(incoming) -%}
    insert into {{ migration_ledger_relation() }} (
        user_id, entity_type, entity_id, checksum, backend_deleted,
        owned_since, last_written_at, last_run_id
    )
    select
        owned.user_id,
        owned.entity_type,
        owned.entity_id,
        owned.ledger_checksum_new,
        owned.ledger_deleted_new,
        {{ now_text() }},
        {{ now_text() }},
        {{ sql_string(invocation_id) }}
    from {{ incoming }} as owned
    where owned.ledger_write = 1
    on conflict (user_id, entity_type, entity_id) do update set
        checksum = excluded.checksum,
        backend_deleted = excluded.backend_deleted,
        last_written_at = excluded.last_written_at,
        last_run_id = excluded.last_run_id
{%- endmacro %}

{#
    migration_conflicts: every conflict a merge met (kind unknown_origin,
    both_changed or deleted_in_backend), how the run's on_conflict policy
    settled it, both checksums and the document that lost, so nothing is
    ever lost. A conflict met again unchanged (api_wins keeps it open) is
    one row, with last_seen_at and times_seen.
#}
{% macro create_migration_conflicts_table() -%}
    create table if not exists {{ target.schema }}.migration_conflicts (
        user_id text not null,
        entity_type text not null,
        entity_id text not null,
        kind text not null,
        resolution text not null,
        backend_state text not null,
        backend_checksum text,
        api_checksum text not null,
        ledger_checksum text,
        lost_side text not null,
        lost_document text,
        first_seen_at text not null,
        last_seen_at text not null,
        first_run_id text not null,
        last_run_id text not null,
        times_seen integer not null default 1
    )
{%- endmacro %}

{#
    Record the merge's conflicts, in its transaction.
#}
{% macro record_migration_conflicts(incoming) -%}
    {%- set policy = on_conflict_policy() -%}
    {%- set same_conflict -%}
        seen.user_id = met.user_id
        and seen.entity_type = met.entity_type
        and seen.entity_id = met.entity_id
        and seen.kind = met.conflict_kind
        and seen.resolution = {{ sql_string(policy) }}
        and coalesce(seen.backend_checksum, '') = coalesce(met.backend_checksum, '')
        and seen.api_checksum = met.api_checksum
    {%- endset -%}
    {% call statement('create_migration_conflicts') -%}
        {{ create_migration_conflicts_table() }}
    {%- endcall %}
    {% call statement('conflicts_seen_again') -%}
        update {{ target.schema }}.migration_conflicts as seen
        set
            last_seen_at = {{ now_text() }},
            last_run_id = {{ sql_string(invocation_id) }},
            times_seen = seen.times_seen + 1
        where exists (
            select 1
            from {{ incoming }} as met
            where met.conflict_kind is not null and {{ same_conflict }}
        )
    {%- endcall %}
    {% call statement('conflicts_new') -%}
        insert into {{ target.schema }}.migration_conflicts (
            user_id, entity_type, entity_id, kind, resolution, backend_state,
            backend_checksum, api_checksum, ledger_checksum, lost_side,
            lost_document, first_seen_at, last_seen_at, first_run_id,
            last_run_id, times_seen
        )
        select
            met.user_id,
            met.entity_type,
            met.entity_id,
            met.conflict_kind,
            {{ sql_string(policy) }},
            met.backend_state,
            met.backend_checksum,
            met.api_checksum,
            met.ledger_checksum,
            {{ sql_string('api' if policy == 'backend_wins' else 'backend') }},
            met.lost_document,
            {{ now_text() }},
            {{ now_text() }},
            {{ sql_string(invocation_id) }},
            {{ sql_string(invocation_id) }},
            1
        from {{ incoming }} as met
        where
            met.conflict_kind is not null
            and not exists (
                select 1
                from {{ target.schema }}.migration_conflicts as seen
                where {{ same_conflict }}
            )
    {%- endcall %}
{%- endmacro %}
