{#
    Each compared key with its action. The flags, as 0/1:
    - in_target: A already is what the backend says (live with S's checksum,
      or deleted when the backend row is);
    - api_changed: A is not what the migration last left (checksum or
      deleted state differs from the ledger's);
    - backend_changed: S is not what the ledger recorded.
    sync_action is one of insert, update, revive, tombstone (the writes),
    unchanged, kept_for_api, absent (no A and nothing to insert) and rejected.
    Arguments:
    - compared: the sync_data__compared temp table
    - features: what the target database has (sync_data_features)
#}
{% macro merge_plan_classified_sql(compared, features) -%}
    {%- set written = "planned.sync_action in ('insert', 'update', 'revive', 'tombstone')" -%}
    select
        planned.*,
        case
            when planned.sync_action in ('insert', 'update', 'revive', 'tombstone')
                or planned.adopted = 1
                or (
                    planned.sync_action = 'unchanged'
                    and planned.owned = 1
                    and planned.backend_changed = 1
                )
                then 1
            else 0
        end as ledger_write,
        case
            when planned.backend_state = 'live' then planned.backend_checksum
            else planned.api_checksum
        end as ledger_checksum_new,
        case when planned.backend_state = 'live' then 0 else 1 end as ledger_deleted_new,
        {%- if features.seq %}
        case
            when {{ written }}
                then {{ sequence_base_sql(features) }} + sum(
                    case when {{ written }} then 1 else 0 end
                ) over (
                    order by
                        {{ binary_sort('planned.user_id') }},
                        {{ binary_sort('planned.entity_type') }},
                        {{ binary_sort('planned.entity_id') }}
                    rows between unbounded preceding and current row
                )
        end as new_seq
        {%- else %}
        cast(null as integer) as new_seq
        {%- endif %}
    from (
        select
            flagged.*,
            case
                when flagged.backend_state = 'rejected' then 'rejected'
                when flagged.api_id is null
                    then
                        case
                            when flagged.backend_state = 'live' then 'insert'
                            else 'absent'
                        end
                when
                    flagged.conflict_kind is not null
                    and {{ sql_string(on_conflict_policy()) }} = 'api_wins'
                    then 'kept_for_api'
                when
                    flagged.conflict_kind is not null
                    or (
                        flagged.owned = 1
                        and flagged.backend_changed = 1
                        and flagged.api_changed = 0
                    )
                    or (flagged.owned = 0 and flagged.backend_state = 'deleted')
                    then
                        case
                            when flagged.in_target = 1 then 'unchanged'
                            when flagged.backend_state != 'live' then 'tombstone'
                            when flagged.api_deleted = 1 then 'revive'
                            else 'update'
                        end
                when flagged.api_changed = 1 and flagged.backend_changed = 0
                    then 'kept_for_api'
                else 'unchanged'
            end as sync_action,
            case
                when
                    flagged.owned = 0
                    and flagged.api_id is not null
                    and flagged.backend_state in ('live', 'deleted')
                    and flagged.conflict_kind is null
                    then 1
                else 0
            end as adopted,
            case
                when flagged.conflict_kind is null then null
                when {{ sql_string(on_conflict_policy()) }} = 'api_wins'
                    then flagged.backend_data
                else coalesce(flagged.api_data, flagged.backend_data)
            end as lost_document
        from (
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
            from (
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
                                        compared.backend_checksum != compared.ledger_checksum
                                        or compared.ledger_deleted = 1
                                        then 1
                                    else 0
                                end
                        when compared.backend_state in ('deleted', 'gone')
                            then case when compared.ledger_deleted = 0 then 1 else 0 end
                        else 0
                    end as backend_changed
                from {{ compared }} as compared
            ) as flags
        ) as flagged
    ) as planned
{%- endmacro %}

{#
    The number the merge's first write adds 1 to: sync_sequence's value, or
    the largest seq present if that is higher (a number is never handed out
    twice, even if the sequence was set back). A dry run on a database
    without sync_sequence (a real run creates it first) reads seq alone.
    Arguments:
    - features: what the target database has (sync_data_features)
#}
{% macro sequence_base_sql(features) -%}
    (
        select coalesce(max(taken.value), 0)
        from (
            {%- if features.sync_sequence %}
            select current_value as value
            from {{ target.schema }}.sync_sequence
            where id = 1
            union all
            {%- endif %}
            select max(seq) as value
            from {{ target.schema }}.sync_data
        ) as taken
    )
{%- endmacro %}
