{#
    Every key of the run's scope that a backend row or the ownership ledger
    names, with the backend's state (S), the API's sync_data row (A) and the
    ledger's entry (L) side by side: what int_merge__plan decides from.
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
        documents.user_id,
        documents.entity_type,
        documents.entity_id,
        documents.entity_key,
        documents.reject_reason,
        documents.reject_value,
        case
            when documents.reject_reason is not null then 'rejected'
            when documents.backend_deleted = 1 then 'deleted'
            else 'live'
        end as backend_state,
        documents.checksum as backend_checksum,
        documents.data as backend_document,
        ledger.entity_id is not null as in_ledger,
        ledger.checksum as ledger_checksum,
        ledger.backend_deleted as ledger_deleted
    from documents
    left join ledger
        on {{ same_key('documents', 'ledger') }}
),

{# A ledger key no backend row of the scope names any more: hard-deleted,
    or moved to another user. #}
gone as (
    select
        ledger.user_id,
        ledger.entity_type,
        ledger.entity_id,
        null as entity_key,
        null as reject_reason,
        null as reject_value,
        'gone' as backend_state,
        null as backend_checksum,
        null as backend_document,
        1 = 1 as in_ledger,
        ledger.checksum as ledger_checksum,
        ledger.backend_deleted as ledger_deleted
    from ledger
    where not exists (
        select named.entity_id
        from documents as named
        where {{ same_key('named', 'ledger') }}
    )
),

keys as (
    select * from keyed
    union all
    select * from gone
),

final as (
    select
        cast(keys.user_id as text) as user_id,
        cast(keys.entity_type as text) as entity_type,
        cast(keys.entity_id as text) as entity_id,
        keys.entity_key,
        keys.reject_reason,
        keys.reject_value,
        cast(keys.backend_state as text) as backend_state,
        keys.backend_checksum,
        cast(
            case
                when
                    sync_data.api_id is null
                    or sync_data.checksum != keys.backend_checksum
                    then keys.backend_document
            end as text
        ) as backend_data,
        sync_data.api_id,
        sync_data.checksum as api_checksum,
        sync_data.is_deleted as api_deleted,
        cast(
            case
                when sync_data.checksum != coalesce(keys.backend_checksum, '')
                    then sync_data.data
            end as text
        ) as api_data,
        cast(
            case
                when
                    keys.backend_state != 'rejected' and keys.in_ledger
                    then 1
                else 0
            end as integer
        ) as owned,
        cast(
            case
                when
                    keys.backend_state != 'rejected'
                    then keys.ledger_checksum
            end as text
        ) as ledger_checksum,
        cast(
            case
                when keys.backend_state != 'rejected' then keys.ledger_deleted
            end as integer
        ) as ledger_deleted
    from keys
    left join sync_data
        on
            keys.backend_state != 'rejected'
            and {{ same_key('keys', 'sync_data') }}
)

select * from final
