{#
    The API's own DDL for sync_data (contract, "Target table"), used only when
    the table does not exist yet, as in a fresh dev database. In staging and
    production the API's migrations have created it already.
#}
{% macro create_sync_data_table(relation) -%}
    {{ return(adapter.dispatch('create_sync_data_table')(relation)) }}
{%- endmacro %}

{% macro sqlite__create_sync_data_table(relation) -%}
    {%- set schema = relation.schema -%}
    {%- set statements = [
        "create table if not exists " ~ schema ~ ".sync_data (
            id text primary key,
            user_id text not null references users (id) on delete cascade,
            entity_type text not null,
            entity_id text not null,
            data text not null,
            checksum text not null,
            version integer default 1,
            created_at timestamp default current_timestamp,
            updated_at timestamp default current_timestamp,
            deleted_at timestamp,
            unique (user_id, entity_type, entity_id)
        )",
        "create index if not exists " ~ schema ~ ".idx_sync_data_user_id on sync_data (user_id)",
        "create index if not exists " ~ schema ~ ".idx_sync_data_entity_type on sync_data (entity_type)",
        "create index if not exists " ~ schema ~ ".idx_sync_data_updated_at on sync_data (updated_at)",
        "create trigger if not exists " ~ schema ~ ".update_sync_data_timestamp
            after update on sync_data
            begin
                update sync_data set updated_at = current_timestamp where id = new.id;
            end"
    ] -%}
    {%- for statement_sql in statements -%}
        {%- call statement('create_sync_data_table', auto_begin=False) -%}
            {{ statement_sql }}
        {%- endcall -%}
    {%- endfor -%}
{%- endmacro %}

{#-
    PostgreSQL: the same table, keys and indexes, timestamps at UTC as
    SQLite's CURRENT_TIMESTAMP is; updated_at is set by the merge itself (the
    SQLite trigger's job).
-#}
{% macro postgres__create_sync_data_table(relation) -%}
    {%- call statement('create_sync_data_table', auto_begin=False) -%}
        create table if not exists {{ relation }} (
            id text primary key,
            user_id text not null references {{ relation.schema }}.users (id) on delete cascade,
            entity_type text not null,
            entity_id text not null,
            data text not null,
            checksum text not null,
            version integer default 1,
            created_at timestamp default (now() at time zone 'utc'),
            updated_at timestamp default (now() at time zone 'utc'),
            deleted_at timestamp,
            unique (user_id, entity_type, entity_id)
        );
        create index if not exists idx_sync_data_user_id on {{ relation }} (user_id);
        create index if not exists idx_sync_data_entity_type on {{ relation }} (entity_type);
        create index if not exists idx_sync_data_updated_at on {{ relation }} (updated_at)
    {%- endcall -%}
{%- endmacro %}
