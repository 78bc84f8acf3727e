{{
    config(
        materialized='sync_upsert',
        unique_key=sync_key(),
    )
}}

{#
    This run's plan, one row per key of its scope (int_merge__plan). The
    sync_upsert materialization takes the write lock, computes this plan in
    its transaction and writes what it says: sync_data, the sequence, the
    ledger, the conflicts, the rejects and the run history. The table holds
    much more than the plan: every row no key of the run names stays as it is.
    An insert's document is looked up in the documented models as it is
    written (merge_insert_sql), hence their refs below.
#}
{%- for table in migration_entity_tables().values() %}
-- depends_on: {{ ref('int_' ~ table ~ '_documented') }}
{%- endfor %}

with

merge_plan as (
    select * from {{ ref('int_merge__plan') }}
),

final as (
    select
        user_id,
        entity_type,
        entity_id,
        entity_key,
        cache_lookup,
        backend_state,
        backend_checksum,
        backend_data,
        api_checksum,
        api_deleted,
        api_data,
        ledger_checksum,
        sync_action,
        conflict_kind,
        adopted,
        lost_document,
        reject_reason,
        reject_value,
        ledger_write,
        ledger_checksum_new,
        ledger_deleted_new,
        takes_seq,
        last_seq
    from merge_plan
)

select * from final
