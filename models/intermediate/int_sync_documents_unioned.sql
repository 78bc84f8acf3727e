{{ config(materialized='ephemeral') }}

{#
    The three staging models' rows of this run's scope (the staging tables
    keep the documents of earlier runs too) as one set of candidate sync_data
    rows, with the one rule a staging model cannot check alone: the user must
    exist. Ephemeral: read once, by sync_data, never copied.
#}

with

logbook_entries as (
    select * from {{ ref('stg_backend__logbook_entries') }}
    where {{ in_run_scope('logbook_entry') }}
),

goals as (
    select * from {{ ref('stg_backend__goals') }}
    where {{ in_run_scope('goal') }}
),

practice_sessions as (
    select * from {{ ref('stg_backend__practice_sessions') }}
    where {{ in_run_scope('practice_session') }}
),

users as (
    select * from {{ source('backend', 'users') }}
),

unioned as (
    select * from logbook_entries
    union all
    select * from goals
    union all
    select * from practice_sessions
),

final as (
    select
        unioned.entity_type,
        unioned.entity_id,
        unioned.user_id,
        unioned.reject_key,
        case when unioned.reject_reason is null then unioned.data end as data,
        case
            when unioned.reject_reason is null then unioned.checksum
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
