{#
    After a migration, the numbers an operator checks, as one long table
    (check, entity_type, user_id, entity_id, detail, value):
    1. sync_data rows and distinct users per entity type;
    2. rows in each source table;
    3. users with no sync data;
    4. a sample of migrated rows, timestamp and type read back from the JSON;
    5. duplicate (user_id, entity_type, entity_id) keys: must be none;
    6. rejected rows by reason;
    7. rows the migration owns whose stored checksum is not sha256(data):
       must be none (the API's own rows are the API's to judge);
    8. the API's own rows of the three entity types (no backend row, no
       ownership ledger entry), per entity type;
    9. rows the migration owns that the API changed since (kept for it);
    10. tombstones: owned rows deleted because their backend row is;
    11. open conflicts: conflicts settled api_wins whose row still holds
        the API's document (the backend's lost document is in
        migration_conflicts).
    First come the verdicts, one row per check (check_name `0 verdict`, the
    check in entity_type, the verdict in detail: pass, FAIL, warn or info,
    and its count in value), so a check that passes still prints a line.
    Run: dbt compile --select verify_migration, then the compiled file with
    sqlite3 and the crypto extension (docs/operations.md, "Verify a migration").
#}

{%- set source_tables = ['users'] + migration_entity_tables().values() | list %}
{%- set conflicts = api.Relation.create(
    database=target.database, schema=target.schema, identifier='migration_conflicts') %}
{%- set has_conflicts = execute and load_relation(conflicts) is not none %}
{#- where a table is not there yet, a stand-in with no rows -#}
{%- set conflicts_source = conflicts if has_conflicts else
    "(select null as user_id, null as entity_type, null as entity_id,"
    ~ " null as kind, null as resolution, null as api_checksum,"
    ~ " 0 as times_seen where 1 = 0)" %}

with

{# Not materialized: read in place, the joins below use sync_data's key
    index; a materialized copy has none, and the join with the ledger then
    scanned the copy once per ledger entry (10 minutes at 240,000 rows). #}
sync_data as not materialized (
    select * from {{ ref('sync_data') }}
    where entity_type in ({{ sql_string_list(migration_entity_types()) }})
),

users as (
    select * from {{ ref('stg_backend__users') }}
),

documents as (
    select * from {{ ref('int_sync_documents_unioned') }}
),

owned as (
    select * from {{ ref('stg_api__migration_ledger') }}
),

sync_data_owned as (
    select
        sync_data.*,
        owned.checksum as owned_checksum,
        owned.backend_deleted as owned_deleted
    from sync_data
    inner join owned
        on
            sync_data.user_id = owned.user_id
            and sync_data.entity_type = owned.entity_type
            and sync_data.entity_id = owned.entity_id
),

per_entity_type as (
    select
        '1 sync_data by entity type' as check_name,
        entity_type,
        null as user_id,
        null as entity_id,
        count(distinct user_id) || ' users' as detail,
        count(*) as value
    from sync_data
    group by entity_type
),

source_counts as (
    {%- for table in source_tables %}
        select
            '2 source rows' as check_name,
            '{{ table }}' as entity_type,
            null as user_id,
            null as entity_id,
            null as detail,
            count(*) as value
        from {{ ref('stg_backend__' ~ table) }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

users_without_sync_data as (
    select
        '3 user without sync data' as check_name,
        null as entity_type,
        users.id as user_id,
        null as entity_id,
        users.email as detail,
        1 as value
    from users
    where not exists (
        select 1 as found
        from sync_data
        where sync_data.user_id = users.id
    )
),

sample_rows as (
    select
        '4 sample' as check_name,
        ranked.entity_type,
        ranked.user_id,
        ranked.entity_id,
        coalesce(
            {{ json_text_at('ranked.data', 'timestamp') }},
            {{ json_text_at('ranked.data', 'startedAt') }},
            {{ json_text_at('ranked.data', 'createdAt') }}
        )
        || ' ' || coalesce(
            {{ json_text_at('ranked.data', 'type') }},
            {{ json_text_at('ranked.data', 'sessionType') }},
            {{ json_text_at('ranked.data', 'status') }}
        ) as detail,
        ranked.version as value
    from (
        select
            sync_data.*,
            row_number() over (
                partition by sync_data.entity_type
                order by sync_data.updated_at desc, sync_data.entity_id asc
            ) as sample_rank
        from sync_data
    ) as ranked
    where ranked.sample_rank <= 5
),

duplicate_keys as (
    select
        '5 duplicate key' as check_name,
        entity_type,
        user_id,
        entity_id,
        null as detail,
        count(*) as value
    from {{ ref('sync_data') }}
    group by user_id, entity_type, entity_id
    having count(*) > 1
),

rejects_by_reason as (
    select
        '6 rejected by reason' as check_name,
        rejected.entity_type,
        null as user_id,
        null as entity_id,
        rejected.category as detail,
        count(*) as value
    from (
        select
            documents.entity_type,
            substr(
                documents.reject_reason,
                1,
                {{ text_position('documents.reject_reason', "':'") }} - 1
            ) as category
        from documents
        where documents.reject_reason is not null
    ) as rejected
    group by rejected.entity_type, rejected.category
),

checksum_mismatches as (
    select
        '7 checksum mismatch' as check_name,
        entity_type,
        user_id,
        entity_id,
        checksum as detail,
        1 as value
    from sync_data_owned
    where checksum is distinct from {{ sha256_hex('data') }}
),

api_rows as (
    select
        '8 api rows' as check_name,
        sync_data.entity_type,
        null as user_id,
        null as entity_id,
        'no backend row, not in the ownership ledger' as detail,
        count(*) as value
    from sync_data
    left join documents
        on
            sync_data.user_id = documents.user_id
            and sync_data.entity_type = documents.entity_type
            and sync_data.entity_id = documents.entity_id
    left join owned
        on
            sync_data.user_id = owned.user_id
            and sync_data.entity_type = owned.entity_type
            and sync_data.entity_id = owned.entity_id
    where documents.entity_id is null and owned.entity_id is null
    group by sync_data.entity_type
),

kept_for_api as (
    select
        '9 kept for the API' as check_name,
        entity_type,
        user_id,
        entity_id,
        case
            when deleted_at is not null and owned_deleted = 0
                then 'deleted in the app'
            else 'changed in the app'
        end as detail,
        version as value
    from sync_data_owned
    where
        checksum != owned_checksum
        or case when deleted_at is null then 0 else 1 end != owned_deleted
),

tombstones as (
    select
        '10 tombstone' as check_name,
        entity_type,
        null as user_id,
        null as entity_id,
        'deleted in the backend' as detail,
        count(*) as value
    from sync_data_owned
    where deleted_at is not null and owned_deleted = 1
    group by entity_type
),

open_conflicts as (
    select
        '11 open conflict' as check_name,
        conflicts.entity_type,
        conflicts.user_id,
        conflicts.entity_id,
        conflicts.kind as detail,
        conflicts.times_seen as value
    from {{ conflicts_source }} as conflicts
    inner join sync_data
        on
            conflicts.user_id = sync_data.user_id
            and conflicts.entity_type = sync_data.entity_type
            and conflicts.entity_id = sync_data.entity_id
    where
        conflicts.resolution = 'api_wins'
        and sync_data.checksum = conflicts.api_checksum
),

verdicts as (
    select
        '0 verdict' as check_name,
        '1 sync_data by entity type' as entity_type,
        null as user_id,
        null as entity_id,
        'info' as detail,
        coalesce(sum(value), 0) as value
    from per_entity_type
    union all
    select
        '0 verdict' as check_name,
        '2 source rows' as entity_type,
        null as user_id,
        null as entity_id,
        'info' as detail,
        coalesce(sum(value), 0) as value
    from source_counts
    union all
    select
        '0 verdict' as check_name,
        '3 user without sync data' as entity_type,
        null as user_id,
        null as entity_id,
        'info' as detail,
        count(*) as value
    from users_without_sync_data
    union all
    select
        '0 verdict' as check_name,
        '4 sample' as entity_type,
        null as user_id,
        null as entity_id,
        'info' as detail,
        count(*) as value
    from sample_rows
    union all
    select
        '0 verdict' as check_name,
        '5 duplicate key' as entity_type,
        null as user_id,
        null as entity_id,
        case when count(*) = 0 then 'pass' else 'FAIL' end as detail,
        count(*) as value
    from duplicate_keys
    union all
    select
        '0 verdict' as check_name,
        '6 rejected by reason' as entity_type,
        null as user_id,
        null as entity_id,
        case when count(*) = 0 then 'pass' else 'warn' end as detail,
        coalesce(sum(value), 0) as value
    from rejects_by_reason
    union all
    select
        '0 verdict' as check_name,
        '7 checksum mismatch' as entity_type,
        null as user_id,
        null as entity_id,
        case when count(*) = 0 then 'pass' else 'FAIL' end as detail,
        count(*) as value
    from checksum_mismatches
    union all
    select
        '0 verdict' as check_name,
        '8 api rows' as entity_type,
        null as user_id,
        null as entity_id,
        'info' as detail,
        coalesce(sum(value), 0) as value
    from api_rows
    union all
    select
        '0 verdict' as check_name,
        '9 kept for the API' as entity_type,
        null as user_id,
        null as entity_id,
        'info' as detail,
        count(*) as value
    from kept_for_api
    union all
    select
        '0 verdict' as check_name,
        '10 tombstone' as entity_type,
        null as user_id,
        null as entity_id,
        'info' as detail,
        coalesce(sum(value), 0) as value
    from tombstones
    union all
    select
        '0 verdict' as check_name,
        '11 open conflict' as entity_type,
        null as user_id,
        null as entity_id,
        case when count(*) = 0 then 'pass' else 'warn' end as detail,
        count(*) as value
    from open_conflicts
),

final as (
    select * from verdicts
    union all
    select * from per_entity_type
    union all
    select * from source_counts
    union all
    select * from users_without_sync_data
    union all
    select * from sample_rows
    union all
    select * from duplicate_keys
    union all
    select * from rejects_by_reason
    union all
    select * from checksum_mismatches
    union all
    select * from api_rows
    union all
    select * from kept_for_api
    union all
    select * from tombstones
    union all
    select * from open_conflicts
)

select * from final
{#- by the checks' numbers: 10 after 9 #}
order by
    cast(substr(check_name, 1, 2) as integer),
    case
        when check_name = '0 verdict'
            then cast(substr(entity_type, 1, 2) as integer)
    end,
    entity_type,
    user_id,
    entity_id
