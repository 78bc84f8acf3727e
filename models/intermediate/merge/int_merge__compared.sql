{#
    Every key of the run's scope that a backend row or the ownership ledger
    names, with the backend's state (S), the API's sync_data row (A) and the
    ledger's entry (L) side by side: what int_merge__plan decides from.
    A full join keeps the ledger's keys that no backend row names any more
    (hard-deleted, or moved to another user), so each input is read once:
    SQLite copies a CTE read twice into a temp table, documents and all.
    A rejected row is compared with nothing: it is left as it is.
    Documents are kept only where a write or a conflict may need them.
#}

with

documents as (
    select * from {{ ref('int_sync_documents_unioned') }}
),

ledger as (
    select * from {{ ref('stg_api__migration_ledger') }}
),

sync_data as (
    select * from {{ ref('stg_api__sync_data') }}
),

keyed as (
    select
        documents.entity_key,
        documents.reject_reason,
        documents.reject_value,
        documents.checksum as backend_checksum,
        documents.data as backend_document,
        ledger.checksum as ledger_checksum,
        ledger.backend_deleted as ledger_deleted,
        coalesce(documents.user_id, ledger.user_id) as user_id,
        coalesce(documents.entity_type, ledger.entity_type) as entity_type,
        coalesce(documents.entity_id, ledger.entity_id) as entity_id,
        case
            when documents.entity_type is null then 'gone'
            when documents.reject_reason is not null then 'rejected'
            when documents.backend_deleted = 1 then 'deleted'
            else 'live'
        end as backend_state,
        ledger.entity_id is not null as in_ledger
    from documents
    full outer join ledger
        on {{ same_key('documents', 'ledger') }}
),

final as (
    select
        cast(keyed.user_id as text) as user_id,
        cast(keyed.entity_type as text) as entity_type,
        cast(keyed.entity_id as text) as entity_id,
        keyed.entity_key,
        keyed.reject_reason,
        keyed.reject_value,
        cast(keyed.backend_state as text) as backend_state,
        keyed.backend_checksum,
        cast(
            case
                when
                    sync_data.api_id is null
                    or sync_data.checksum != keyed.backend_checksum
                    then keyed.backend_document
            end as text
        ) as backend_data,
        sync_data.api_id,
        sync_data.checksum as api_checksum,
        sync_data.is_deleted as api_deleted,
        cast(
            case
                when sync_data.checksum != coalesce(keyed.backend_checksum, '')
                    then sync_data.data
            end as text
        ) as api_data,
        cast(
            case
                when
                    keyed.backend_state != 'rejected' and keyed.in_ledger
                    then 1
                else 0
            end as integer
        ) as owned,
        cast(
            case
                when
                    keyed.backend_state != 'rejected'
                    then keyed.ledger_checksum
            end as text
        ) as ledger_checksum,
        cast(
            case
                when keyed.backend_state != 'rejected' then keyed.ledger_deleted
            end as integer
        ) as ledger_deleted
    from keyed
    left join sync_data
        on
            keyed.backend_state != 'rejected'
            and {{ same_key('keyed', 'sync_data') }}
)

select * from final
