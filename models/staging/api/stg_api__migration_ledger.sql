{#
    The ownership ledger's entries of the run's scope (contract, "Which rows
    the migration may change"): the checksum the migration last left in each
    key it owns, and whether the backend row was deleted then; in a narrowed
    merge (merge_narrowing.sql) only its keys' entries, by entity_id whatever
    the user, so a row moved to another user leaves its old key. Ephemeral, so
    read inside the merge's transaction after its write lock; a stand-in
    with no rows before the first run creates the table.
#}

{#- Read twice, once per way of reading it, as a subquery (noqa: ST05): a
    CTE read twice would be copied whole by SQLite before either read. The
    key columns stay uncast: a cast would keep SQLite from the table's
    unique index on them, and every join of the merge is on them. -#}
{%- set ledger %}
    select
        entries.user_id,
        entries.entity_type,
        entries.entity_id,
        cast(entries.checksum as text) as checksum,
        cast(entries.backend_deleted as integer) as backend_deleted
    from ({{ table_or_empty(source('api', 'migration_ledger'), [
        'user_id',
        'entity_type',
        'entity_id',
        'checksum',
        'backend_deleted'
    ]) }}) as entries
{%- endset %}

with

every_key as (
    {{ merge_reads_every_key() }}
),

every_entry as (
    select source.*
    from every_key
    cross join ({{ ledger }}) as source  -- noqa: ST05
    where {{ run_scope_where('source') }}
),

{# In a narrowed merge: the entries of its keys, through the ledger's
    (entity_type, entity_id) index. #}
narrowed_entries as (
    select source.*
    from ({{ ledger }}) as source  -- noqa: ST05
    where
        {{ run_scope_where('source') }}
        and (source.entity_type, source.entity_id) in ({{ merge_keys() }})
),

final as (
    select * from every_entry
    union all
    select * from narrowed_entries
)

select * from final
