{#
    migration_rejects (contract, "Rows that cannot be migrated"): one row per
    source row that is rejected now, in the target database. Maintained by
    sync_data's materialization inside the merge's transaction, within the run's
    scope only: rows rejected again keep first_seen_at and get a new
    last_seen_at; rows fixed since the last run leave the table (they were
    just migrated). A row without an id is keyed by a hash of its values.
#}
{% macro create_migration_rejects_table() -%}
    {%- set columns = run_history_columns()['migration_rejects'] -%}
    create table if not exists {{ target.schema }}.migration_rejects (
        {%- for name, ddl in columns.items() %}
        {{ name }} {{ ddl['create'] }},
        {%- endfor %}
        primary key (entity_type, entity_key)
    )
{%- endmacro %}

{#
    The merge's rejects, in its transaction.
#}
{% macro record_migration_rejects(incoming) -%}
    {%- set user_id = sync_user_id() -%}
    {%- call statement('create_migration_rejects') -%}
        {{ create_migration_rejects_table() }}
    {%- endcall -%}
    {%- call statement('forget_fixed_rejects') -%}
        delete from {{ target.schema }}.migration_rejects
        where
            entity_type in ({{ entity_types_in_scope_sql() }})
            {%- if user_id is not none %}
            and user_id = {{ sql_string(user_id) }}
            {%- endif %}
            and not exists (
                select 1
                from {{ incoming }} as rejected
                where
                    rejected.sync_action = 'rejected'
                    and rejected.entity_type = migration_rejects.entity_type
                    and rejected.entity_key = migration_rejects.entity_key
            )
    {%- endcall -%}
    {%- call statement('record_rejects') -%}
        insert into {{ target.schema }}.migration_rejects (
            entity_type, entity_key, entity_id, user_id, reason, value,
            first_seen_at, last_seen_at
        )
        select
            rejected.entity_type,
            rejected.entity_key,
            rejected.entity_id,
            rejected.user_id,
            rejected.reject_reason,
            rejected.reject_value,
            {{ now_text() }},
            {{ now_text() }}
        from {{ incoming }} as rejected
        where rejected.sync_action = 'rejected'
        on conflict (entity_type, entity_key) do update set
            entity_id = excluded.entity_id,
            user_id = excluded.user_id,
            reason = excluded.reason,
            value = excluded.value,
            last_seen_at = excluded.last_seen_at
    {%- endcall -%}
{%- endmacro %}
