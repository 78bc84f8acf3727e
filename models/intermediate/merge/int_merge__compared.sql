{#
    Every key of the run's scope that a backend row or the ownership ledger
    names, with the backend's state (S), the API's sync_data row (A) and the
    ledger's entry (L) side by side: what int_merge__plan decides from.
    A rejected row is compared with nothing: it is left as it is.
    The backend's document is looked up (cached_document) only where an
    update or a conflict may need it, beside an A it differs from: the
    comparison copies checksums, and an insert looks its document up as it
    writes it, so that a first run's documents are not copied through the
    plan's key-ordered sort.
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

{# Both sides of a key, stacked: grouped below, they pair every backend row
    with its ledger entry and keep the keys only one side names, reading
    each side once (a LEFT JOIN plus NOT EXISTS reads one side twice, and
    SQLite then copies it and probes it at random). A row without an id is
    keyed by its entity_key, which no ledger entry has: it is rejected. #}
sides as (
    select
        documents.user_id,
        documents.entity_type,
        coalesce(documents.entity_id, documents.entity_key) as pair_key,
        documents.entity_id,
        documents.entity_key,
        documents.cache_lookup,
        documents.reject_reason,
        documents.reject_value,
        documents.backend_deleted,
        documents.checksum as backend_checksum,
        1 as in_backend,
        0 as in_ledger,
        null as ledger_checksum,
        null as ledger_deleted
    from documents
    union all
    select
        ledger.user_id,
        ledger.entity_type,
        ledger.entity_id as pair_key,
        ledger.entity_id,
        null as entity_key,
        null as cache_lookup,
        null as reject_reason,
        null as reject_value,
        null as backend_deleted,
        null as backend_checksum,
        0 as in_backend,
        1 as in_ledger,
        ledger.checksum as ledger_checksum,
        ledger.backend_deleted as ledger_deleted
    from ledger
),

{# One row per key; each column comes from the one side that has it. Grouped
    rows come out in key order, so the join to sync_data below probes its
    key index in order. Before the first merge there is no ledger (its
    stand-in has no rows): every key has one side, and the grouping, a sort
    of every key, is left out. #}
paired as (
    {%- if migration_ledger_exists() %}
        select
            sides.user_id,
            sides.entity_type,
            max(sides.entity_id) as entity_id,
            max(sides.entity_key) as entity_key,
            max(sides.cache_lookup) as cache_lookup,
            max(sides.reject_reason) as reject_reason,
            max(sides.reject_value) as reject_value,
            max(sides.backend_deleted) as backend_deleted,
            max(sides.backend_checksum) as backend_checksum,
            max(sides.in_backend) as in_backend,
            max(sides.in_ledger) as in_ledger,
            max(sides.ledger_checksum) as ledger_checksum,
            max(sides.ledger_deleted) as ledger_deleted
        from sides
        group by sides.user_id, sides.entity_type, sides.pair_key
    {%- else %}
        select * from sides
    {%- endif %}
),

{# gone: a ledger key no backend row of the scope names any more
    (hard-deleted, or moved to another user). #}
keys as (
    select
        paired.*,
        case
            when paired.in_backend = 0 then 'gone'
            when paired.reject_reason is not null then 'rejected'
            when paired.backend_deleted = 1 then 'deleted'
            else 'live'
        end as backend_state
    from paired
),

final as (
    select
        cast(keys.user_id as text) as user_id,
        cast(keys.entity_type as text) as entity_type,
        cast(keys.entity_id as text) as entity_id,
        cast(keys.entity_key as text) as entity_key,
        keys.cache_lookup,
        cast(keys.reject_reason as text) as reject_reason,
        cast(keys.reject_value as text) as reject_value,
        cast(keys.backend_state as text) as backend_state,
        cast(keys.backend_checksum as text) as backend_checksum,
        cast(
            case
                when
                    keys.backend_state in ('live', 'deleted')
                    and sync_data.checksum != keys.backend_checksum
                    then {{ cached_document('keys') }}
            end as text
        ) as backend_data,
        sync_data.api_id,
        sync_data.checksum as api_checksum,
        sync_data.api_deleted,
        cast(
            case
                when sync_data.checksum != coalesce(keys.backend_checksum, '')
                    then sync_data.data
            end as text
        ) as api_data,
        cast(
            case
                when
                    keys.backend_state != 'rejected' and keys.in_ledger = 1
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
