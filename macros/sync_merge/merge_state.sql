{#
    What a real run leaves for a later narrowed run (merge_narrowing.sql), in
    the target database beside what it describes.
#}

{#
    migration_merge_state: per entity type, what the last unfiltered real
    run left, in the target database, beside what it describes.
#}
{% macro merge_state_relation() -%}
    {{ return(api.Relation.create(
        database=target.database, schema=target.schema,
        identifier='migration_merge_state', type='table')) }}
{%- endmacro %}

{% macro create_merge_state_table() -%}
    create table if not exists {{ merge_state_relation() }} (
        entity_type text primary key,
        run_id text not null,
        work_id text not null,
        cache_mark integer not null,
        seq_mark integer not null,
        ledger_rows integer not null,
        users_hash text not null,
        on_conflict text not null,
        d1_row_limit text not null,
        recorded_at text not null
    )
{%- endmacro %}

{# The set of user ids, hashed: a user added or removed changes orphans. #}
{% macro users_hash_sql() -%}
    {{ return(adapter.dispatch('users_hash_sql')()) }}
{%- endmacro %}

{% macro sqlite__users_hash_sql() -%}
    select {{ sha256_hex("coalesce(group_concat(ordered.id, char(10)), '')") }}
    from (
        select cast(users.id as text) as id
        from {{ source('backend', 'users') }} as users
        order by 1
    ) as ordered
{%- endmacro %}

{% macro postgres__users_hash_sql() -%}
    select {{ sha256_hex("coalesce(string_agg(cast(users.id as text), chr(10) order by cast(users.id as text) collate \"C\"), '')") }}
    from {{ source('backend', 'users') }} as users
{%- endmacro %}

{#
    migration_open_keys: the keys the last run covering them kept for the
    API (an API edit, or a conflict api_wins keeps open), which a narrowed
    run compares again although nothing marks them as changed.
#}
{% macro merge_open_keys_relation() -%}
    {{ return(api.Relation.create(
        database=target.database, schema=target.schema,
        identifier='migration_open_keys', type='table')) }}
{%- endmacro %}

{#
    After the writes of a real run on a sync_data with seq: the open keys
    of what it planned; then, without a user filter, per entity type of the
    scope, the marks below which every key is as this run left it and what
    a later narrowed run must find the same; with a user filter, only the
    ledger's count moved by the entries this run added, as its marks do not
    cover the other users.
#}
{% macro record_merge_state(features, incoming, narrowed, marks) -%}
    {%- if not (features.seq and features.sync_sequence) -%}
        {{ return('') }}
    {%- endif -%}
    {%- set tables = migration_entity_tables() -%}
    {%- set d1_limit = var('d1_row_limit', none) -%}
    {%- set open = merge_open_keys_relation() -%}
    {% call statement('create_merge_open_keys') -%}
        create table if not exists {{ open }} (
            entity_type text not null,
            entity_key text not null,
            user_id text,
            primary key (entity_type, entity_key)
        )
    {%- endcall %}
    {% call statement('forget_merge_open_keys') -%}
        delete from {{ open }}
        where
            {%- if not narrowed %}
            {{ run_scope_where(open.identifier) }}
            {%- else %}
            exists (
                select 1
                from {{ incoming }} as planned
                where
                    planned.entity_type = {{ open.identifier }}.entity_type
                    and coalesce(planned.entity_key, planned.entity_id)
                    = {{ open.identifier }}.entity_key
            )
            {%- endif %}
    {%- endcall %}
    {% call statement('record_merge_open_keys') -%}
        insert into {{ open }} (entity_type, entity_key, user_id)
        select
            planned.entity_type,
            coalesce(planned.entity_key, planned.entity_id),
            max(planned.user_id)
        from {{ incoming }} as planned
        where
            planned.sync_action = 'kept_for_api'
            {#- adopted with A other than the ledger now says (the API had
                deleted it): a full run keeps it for the API from now on -#}
            or (
                planned.ledger_write = 1
                and planned.sync_action not in ('insert', 'update', 'revive', 'tombstone')
                and planned.api_checksum is not null
                and (
                    planned.api_checksum != planned.ledger_checksum_new
                    or planned.api_deleted != planned.ledger_deleted_new
                )
            )
        group by planned.entity_type, coalesce(planned.entity_key, planned.entity_id)
        on conflict (entity_type, entity_key) do update set user_id = excluded.user_id
    {%- endcall %}
    {% call statement('create_merge_state') -%}
        {{ create_merge_state_table() }}
    {%- endcall %}
    {%- if sync_user_id() is not none -%}
        {% call statement('record_merge_state') -%}
            update {{ merge_state_relation() }}
            set ledger_rows = ledger_rows + (
                select count(*)
                from {{ incoming }} as planned
                where
                    planned.ledger_write = 1
                    and planned.ledger_checksum is null
                    and planned.entity_type = {{ merge_state_relation().identifier }}.entity_type
            )
        {%- endcall %}
        {{ return('') }}
    {%- endif -%}
    {% call statement('record_merge_state') -%}
        insert into {{ merge_state_relation() }} (
            entity_type, run_id, work_id, cache_mark, seq_mark, ledger_rows, users_hash,
            on_conflict, d1_row_limit, recorded_at
        )
        select * from (
        {%- for entity_type in sync_entity_types() %}
        select
            {{ sql_string(entity_type) }} as entity_type,
            {{ sql_string(invocation_id) }} as run_id,
            (
                select max(work_id)
                from {{ merge_work_relation('sync_merge_identity') }}
            ) as work_id,
            {{ marks[entity_type] | int }} as cache_mark,
            (
                select coalesce(max(current_value), 0)
                from {{ target.schema }}.sync_sequence
            ) as seq_mark,
            (
                select count(*)
                from {{ migration_ledger_relation() }} as ledger
                where ledger.entity_type = {{ sql_string(entity_type) }}
            ) as ledger_rows,
            ({{ users_hash_sql() }}) as users_hash,
            {{ sql_string(on_conflict_policy()) }} as on_conflict,
            {{ sql_string(d1_limit | string if d1_limit is not none else '') }} as d1_row_limit,
            {{ now_text() }} as recorded_at
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
        ) as recorded
        where true
        on conflict (entity_type) do update set
            run_id = excluded.run_id,
            work_id = excluded.work_id,
            cache_mark = excluded.cache_mark,
            seq_mark = excluded.seq_mark,
            ledger_rows = excluded.ledger_rows,
            users_hash = excluded.users_hash,
            on_conflict = excluded.on_conflict,
            d1_row_limit = excluded.d1_row_limit,
            recorded_at = excluded.recorded_at
    {%- endcall %}
{%- endmacro %}
