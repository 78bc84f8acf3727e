{#
    After a migration, the numbers an operator checks, as one long table
    (check, entity_type, user_id, entity_id, detail, value):
    1. sync_data rows and distinct users per entity type;
    2. rows in each source table;
    3. users with no sync data;
    4. a sample of migrated rows, timestamp and type read back from the JSON;
    5. duplicate (user_id, entity_type, entity_id) keys: must be none;
    6. rejected rows by reason;
    7. rows whose stored checksum is not sha256(data): must be none.
    First come the verdicts, one row per check (check_name `0 verdict`, the
    check in entity_type, the verdict in detail: pass, FAIL, warn or info,
    and its count in value), so a check that passes still prints a line.
    Run: dbt compile --select verify_migration, then the compiled file with
    sqlite3 and the crypto extension (docs/operations.md, "Verify a migration").
#}

{%- set source_tables = ['users'] + migration_entity_tables().values() | list %}

with

sync_data as (
    select * from {{ ref('sync_data') }}
    where entity_type in ({{ sql_string_list(migration_entity_types()) }})
),

users as (
    select * from {{ ref('stg_backend__users') }}
),

documents as (
    select * from {{ ref('int_sync_documents_unioned') }}
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
    from sync_data
    where checksum is distinct from {{ sha256_hex('data') }}
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
)

select * from final
order by check_name, entity_type, user_id, entity_id
