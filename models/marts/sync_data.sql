{{
    config(
        materialized='sync_upsert',
        unique_key=['user_id', 'entity_type', 'entity_id'],
    )
}}

{#
    The rows of this run's scope that can be migrated. The sync_upsert
    materialization merges them into the API's sync_data table.
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
        checksum
    from documents
    where reject_reason is null
)

select * from final
