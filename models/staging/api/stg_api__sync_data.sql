{#
    The API's sync_data rows of the run's scope as they stand when the merge
    runs. Ephemeral: compiled into sync_data's plan, so read inside the
    merge's transaction, after its write lock. Before the first run creates
    the table there is none, and a stand-in with no rows takes its place.
    Only the columns the plan compares; `data` is read only for the rows
    whose document a conflict may lose.
#}

with

source as (
    {{ table_or_empty(source('api', 'sync_data'), [
        'id',
        'user_id',
        'entity_type',
        'entity_id',
        'data',
        'checksum',
        'deleted_at'
    ]) }}
),

{# The key columns uncast: a cast would keep SQLite from the table's
    unique index on them, and every join of the merge is on them. #}
renamed as (
    select
        cast(source.id as text) as api_id,
        source.user_id,
        source.entity_type,
        source.entity_id,
        cast(source.data as text) as data,
        cast(source.checksum as text) as checksum,
        case when source.deleted_at is null then 0 else 1 end as api_deleted
    from source
    where {{ run_scope_where('source') }}
)

select * from renamed
