{#
    The merge's plan: for each compared key, the one action the contract's
    table ("Which rows the migration may change") gives it, its conflict, its
    ledger write and whether it takes a seq. It depends only on the compared
    row and var on_conflict, so the unit tests beside it walk the contract's
    table row by row, under both policies. Ephemeral: sync_data's
    materialization computes it inside its transaction, after the write lock,
    and numbers the rows that take a seq as it stores the plan
    (compute_merge_plan): a running count here would make SQLite buffer every
    planned row in a window, which costs three times the sort.
#}

{%- set policy = on_conflict_policy() %}
{%- set writes = "('insert', 'update', 'revive', 'tombstone')" %}

with

compared as (
    select * from {{ ref('int_merge__compared') }}
),

sync_sequence as (
    select * from {{ ref('stg_api__sync_sequence') }}
),

{# in_target: A already is what the backend says; api_changed: A is not
    what the migration last left; backend_changed: S is not what the ledger
    recorded. #}
flags as (
    select
        compared.*,
        case
            when
                compared.backend_state = 'live'
                and compared.api_deleted = 0
                and compared.api_checksum = compared.backend_checksum
                then 1
            when
                compared.backend_state in ('deleted', 'gone')
                and compared.api_deleted = 1
                then 1
            else 0
        end as in_target,
        case
            when
                compared.owned = 1
                and compared.api_id is not null
                and (
                    compared.api_checksum != compared.ledger_checksum
                    or compared.api_deleted != compared.ledger_deleted
                )
                then 1
            else 0
        end as api_changed,
        case
            when compared.owned = 0 then 0
            when compared.backend_state = 'live'
                then
                    case
                        when
                            compared.backend_checksum
                            != compared.ledger_checksum
                            or compared.ledger_deleted = 1
                            then 1
                        else 0
                    end
            when compared.backend_state in ('deleted', 'gone')
                then case when compared.ledger_deleted = 0 then 1 else 0 end
            else 0
        end as backend_changed
    from compared
),

conflicts as (
    select
        flags.*,
        case
            when flags.backend_state = 'rejected' or flags.api_id is null
                then null
            when flags.owned = 0
                then
                    case
                        when
                            flags.api_checksum != flags.backend_checksum
                            and flags.in_target = 0
                            then 'unknown_origin'
                    end
            when
                flags.api_changed = 1
                and flags.backend_changed = 1
                and flags.in_target = 0
                then
                    case
                        when flags.backend_state = 'live' then 'both_changed'
                        else 'deleted_in_backend'
                    end
        end as conflict_kind
    from flags
),

actions as (
    select
        conflicts.*,
        case
            when conflicts.backend_state = 'rejected' then 'rejected'
            when conflicts.api_id is null
                then
                    case
                        when conflicts.backend_state = 'live' then 'insert'
                        else 'absent'
                    end
            {%- if policy == 'api_wins' %}
            when conflicts.conflict_kind is not null then 'kept_for_api'
            {%- endif %}
            when
                conflicts.conflict_kind is not null
                or (
                    conflicts.owned = 1
                    and conflicts.backend_changed = 1
                    and conflicts.api_changed = 0
                )
                or (conflicts.owned = 0 and conflicts.backend_state = 'deleted')
                then
                    case
                        when conflicts.in_target = 1 then 'unchanged'
                        when conflicts.backend_state != 'live' then 'tombstone'
                        when conflicts.api_deleted = 1 then 'revive'
                        else 'update'
                    end
            when conflicts.api_changed = 1 and conflicts.backend_changed = 0
                then 'kept_for_api'
            else 'unchanged'
        end as sync_action,
        case
            when
                conflicts.owned = 0
                and conflicts.api_id is not null
                and conflicts.backend_state in ('live', 'deleted')
                and conflicts.conflict_kind is null
                then 1
            else 0
        end as adopted,
        case
            when conflicts.conflict_kind is null then null
            {%- if policy == 'api_wins' %}
            else conflicts.backend_data
            {%- else %}
                else coalesce(conflicts.api_data, conflicts.backend_data)
            {%- endif %}
        end as lost_document
    from conflicts
),

final as (
    select
        actions.user_id,
        actions.entity_type,
        actions.entity_id,
        actions.entity_key,
        actions.cache_lookup,
        actions.reject_reason,
        actions.reject_value,
        actions.backend_state,
        actions.backend_checksum,
        actions.backend_data,
        actions.api_id,
        actions.api_checksum,
        actions.api_deleted,
        actions.api_data,
        actions.owned,
        actions.ledger_checksum,
        actions.ledger_deleted,
        cast(actions.in_target as integer) as in_target,
        cast(actions.api_changed as integer) as api_changed,
        cast(actions.backend_changed as integer) as backend_changed,
        cast(actions.conflict_kind as text) as conflict_kind,
        cast(actions.sync_action as text) as sync_action,
        cast(actions.adopted as integer) as adopted,
        cast(actions.lost_document as text) as lost_document,
        cast(
            case
                when
                    actions.sync_action in {{ writes }}
                    or actions.adopted = 1
                    or (
                        actions.sync_action = 'unchanged'
                        and actions.owned = 1
                        and actions.backend_changed = 1
                    )
                    then 1
                else 0
            end as integer
        ) as ledger_write,
        cast(
            case
                when
                    actions.backend_state = 'live'
                    then actions.backend_checksum
                else actions.api_checksum
            end as text
        ) as ledger_checksum_new,
        cast(
            case
                when actions.backend_state = 'live' then 0 else 1
            end as integer
        ) as ledger_deleted_new,
        cast(
            case when actions.sync_action in {{ writes }} then 1 else 0 end
            as integer
        ) as takes_seq,
        cast(sync_sequence.last_value as integer) as last_seq
    from actions
    cross join sync_sequence
)

select * from final
