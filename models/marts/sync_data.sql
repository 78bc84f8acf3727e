{{
    config(
        materialized='sync_upsert',
        unique_key=['user_id', 'entity_type', 'entity_id'],
        post_hook=[
            "{{ record_migration_rejects() }}",
            "{{ record_migration_runs() }}",
            "{{ forget_stale_documents() }}",
        ],
    )
}}

{#
    This run's candidate rows. The sync_upsert materialization merges those
    without a reject_reason into the API's sync_data table; its post-hooks
    record the rejected ones (migration_rejects) and the run's counts
    (migration_runs), in the same transaction.
#}

with

documents as (
    select * from {{ ref('int_sync_documents_unioned') }}
),

final as (
    select
        user_id,
        entity_type,
        entity_id,
        data,
        checksum,
        entity_key,
        reject_reason,
        reject_value,
        backend_deleted
    from documents
)

select * from final
