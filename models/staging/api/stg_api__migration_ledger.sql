{#
    The ownership ledger's entries of the run's scope (contract, "Which rows
    the migration may change"): the checksum the migration last left in each
    key it owns, and whether the backend row was deleted then. Ephemeral, so
    read inside the merge's transaction after its write lock; a stand-in
    with no rows before the first run creates the table.
#}

with

source as (
    {{ table_or_empty(source('api', 'migration_ledger'), [
        'user_id',
        'entity_type',
        'entity_id',
        'checksum',
        'backend_deleted'
    ]) }}
),

{# The key columns uncast: a cast would keep SQLite from the table's
    unique index on them, and every join of the merge is on them. #}
renamed as (
    select
        source.user_id,
        source.entity_type,
        source.entity_id,
        cast(source.checksum as text) as checksum,
        cast(source.backend_deleted as integer) as backend_deleted
    from source
    where {{ run_scope_where('source') }}
)

select * from renamed
