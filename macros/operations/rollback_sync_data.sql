{#
    run-operation rollback_sync_data: remove migrated rows from sync_data.
      --args '{entity_type: goal}'            one entity type (or a list: entity_types)
      --args '{user_id: u_123}'               one user's migrated rows
      --args '{all: true, confirm: true}'     all three migration entity types
      add dry_run: true to only count what would go.
    Only rows the migration owns (per the ownership ledger) are taken back,
    and only while they are what it left there: a device's push, or a
    migrated row a user changed in the app since, stays.
    Where sync_data has seq (devices sync by it, and never see a deleted
    row), a row is tombstoned, not deleted: deleted_at set, version + 1, a
    fresh seq, data kept; its ledger entry notes it down (backend_deleted 1,
    last_run_id the rollback's), so the next run covering it revives it, or
    leaves it down if the backend row is gone. Without seq the rows are
    deleted and their keys leave the ledger, as the old script's rollback did.
    Arguments are data: they reach SQL only as escaped literals. Each real
    rollback is one transaction and leaves a `rolled_back` row per entity
    type in migration_runs.
#}
{% macro rollback_sync_data(entity_type=none, entity_types=none, user_id=none, all=false, confirm=false, dry_run=false) -%}
    {%- set known = migration_entity_types() -%}
    {#- `--args '{entity_type: goal, user_id: $uid}'` with uid unset gives a null:
        read as "not given", it would take back every user's rows -#}
    {%- set given = invocation_args_dict.get('args') or {} -%}
    {%- if given is string -%}
        {%- set given = fromyaml(given) or {} -%}
    {%- endif -%}
    {%- for name in ['user_id', 'entity_type', 'entity_types'] if name in given
        and (given[name] is none or given[name] | string | trim in ['', '[]']) -%}
        {{ exceptions.raise_compiler_error(
            "rollback_sync_data: " ~ name ~ " is given but empty, which would widen the "
            ~ "rollback; nothing was removed. Leave it out, or give a value.") }}
    {%- endfor -%}
    {%- set chosen = entity_types if entity_types is not none else ([entity_type] if entity_type is not none else []) -%}
    {%- if chosen is string -%}
        {%- set chosen = chosen.split(',') | map('trim') | list -%}
    {%- endif -%}
    {%- for name in chosen if name not in known -%}
        {{ exceptions.raise_compiler_error(
            "rollback_sync_data: unknown entity type '" ~ name ~ "'; use any of " ~ known | join(', ')) }}
    {%- endfor -%}
    {%- if not chosen and user_id is none and not all -%}
        {{ exceptions.raise_compiler_error(
            "rollback_sync_data needs entity_type, user_id, or all: true (with confirm: true).") }}
    {%- endif -%}
    {%- if all and not chosen and user_id is none and not confirm and not dry_run -%}
        {{ exceptions.raise_compiler_error(
            "rollback_sync_data: removing every migrated row needs confirm: true "
            ~ "(try dry_run: true first to see how many rows that is).") }}
    {%- endif -%}
    {%- set scope = chosen if chosen else known -%}
    {%- set relation = load_relation(api.Relation.create(schema=target.schema, identifier='sync_data')) -%}
    {%- if relation is none -%}
        {{ log("rollback_sync_data: " ~ target_database_label()
            ~ " has no sync_data table; nothing to remove.", info=True) }}
        {{ return('') }}
    {%- endif -%}
    {%- set ledger = migration_ledger_relation() -%}
    {%- if load_relation(ledger) is none -%}
        {{ log("rollback_sync_data: " ~ target_database_label() ~ " has no " ~ ledger.identifier
            ~ ", so the migration owns no sync_data row there; nothing to remove.", info=True) }}
        {{ return('') }}
    {%- endif -%}
    {%- set owned_in_scope -%}
        owned.entity_type in ({{ sql_string_list(scope) }})
        {%- if user_id is not none %} and owned.user_id = {{ sql_string(user_id) }}{% endif %}
    {%- endset -%}
    {#- A row is removed only while it is what the migration left there: a row
        the API changed since (a user's edit, a delete in the app) stays. -#}
    {%- set as_left -%}
        sync_data.checksum = owned.checksum
        and case when sync_data.deleted_at is null then 0 else 1 end = owned.backend_deleted
    {%- endset -%}
    {%- set counted -%}
        from ({{ entity_types_in_scope_sql(scope) }}) as scope
        left join {{ ledger }} as owned
            on owned.entity_type = scope.entity_type and {{ owned_in_scope }}
        left join {{ target.schema }}.sync_data
            on
                sync_data.user_id = owned.user_id
                and sync_data.entity_type = owned.entity_type
                and sync_data.entity_id = owned.entity_id
    {%- endset -%}
    {%- set features = sync_data_features(relation) -%}
    {#- With seq, a row already down (a tombstone as the migration left it)
        stays as it is: only live rows are taken back. -#}
    {%- set taken_back -%}
        {{ as_left }}{% if features.seq %} and sync_data.deleted_at is null{% endif %}
    {%- endset -%}
    {%- set verb = ('tombstone' if features.seq else 'delete') -%}
    {%- if not dry_run -%}
        {%- do upgrade_run_history_tables() -%}
        {%- do run_query(create_migration_runs_table()) -%}
        {#- The write lock first, in a transaction of its own: a transaction that
            has read cannot take SQLite's write lock while the API writes
            (SQLITE_BUSY at once). So the counts below are read under the lock,
            with the merge's lock and numbering: no API write in between. -#}
        {%- do adapter.commit() -%}
        {%- do take_merge_write_lock(features) -%}
        {%- if features.seq and not features.sync_sequence -%}
            {%- do ensure_sync_sequence() -%}
            {%- do features.update({'sync_sequence': true}) -%}
        {%- endif -%}
        {%- if features.seq -%}
            {%- set seq_base = run_query("select " ~ sequence_base_sql(features)).columns[0].values()[0] -%}
        {%- endif -%}
    {%- endif -%}
    {%- set counts = run_query(
        "select scope.entity_type,"
        ~ " count(case when " ~ taken_back ~ " then 1 end) as removed,"
        ~ " count(case when sync_data.id is not null and not (" ~ as_left ~ ") then 1 end) as kept"
        ~ " " ~ counted ~ " group by scope.entity_type order by scope.entity_type"
    ) -%}
    {%- for row in counts -%}
        {{ log("rollback " ~ row['entity_type'] ~ (" (user " ~ user_id ~ ")" if user_id is not none else "")
            ~ " in " ~ target_database_label() ~ ": "
            ~ ("would " ~ verb ~ " " if dry_run else verb[:-1] ~ "ing ") ~ row['removed'] ~ " rows the migration owns"
            ~ (", keeping " ~ row['kept'] ~ " the API changed since" if row['kept'] else ""), info=True) }}
    {%- endfor -%}
    {%- if dry_run -%}
        {{ log("rollback dry run: nothing was changed in " ~ target_database_label() ~ ".", info=True) }}
        {{ return('') }}
    {%- endif -%}
    {%- do write_migration_runs('rolled_back', {
        'processed_count': 'count(owned.entity_id)',
        verb ~ 'd_count': 'count(case when ' ~ taken_back ~ ' then 1 end)',
        'kept_for_api_count': 'count(case when sync_data.id is not null and not (' ~ as_left ~ ') then 1 end)',
        'error_count': '0',
    }, counted, scope, user_id, ':rollback:') -%}
    {%- if features.seq %}
    {%- call statement('rollback_tombstone') -%}
        update {{ target.schema }}.sync_data
        set
            deleted_at = {{ now_timestamp() }},
            updated_at = {{ now_timestamp() }},
            version = coalesce(sync_data.version, 1) + 1,
            seq = taken.new_seq
            {%- if features.device_id %},
            device_id = null
            {%- endif %}
        from (
            select
                owned.user_id,
                owned.entity_type,
                owned.entity_id,
                {{ seq_base }} + row_number() over (
                    order by
                        {{ binary_sort('owned.user_id') }},
                        {{ binary_sort('owned.entity_type') }},
                        {{ binary_sort('owned.entity_id') }}
                ) as new_seq
            from {{ ledger }} as owned
            inner join {{ target.schema }}.sync_data
                on
                    sync_data.user_id = owned.user_id
                    and sync_data.entity_type = owned.entity_type
                    and sync_data.entity_id = owned.entity_id
            where {{ owned_in_scope }} and {{ taken_back }}
        ) as taken
        where
            sync_data.user_id = taken.user_id
            and sync_data.entity_type = taken.entity_type
            and sync_data.entity_id = taken.entity_id
    {%- endcall -%}
    {%- call statement('rollback_mark_ownership') -%}
        update {{ ledger }}
        set
            backend_deleted = 1,
            last_written_at = {{ now_text() }},
            last_run_id = {{ sql_string(invocation_id) }}
        where exists (
            select 1
            from {{ target.schema }}.sync_data
            where
                sync_data.user_id = {{ ledger.identifier }}.user_id
                and sync_data.entity_type = {{ ledger.identifier }}.entity_type
                and sync_data.entity_id = {{ ledger.identifier }}.entity_id
                and sync_data.seq > {{ seq_base }}
        )
    {%- endcall -%}
    {%- call statement('rollback_advance_sequence') -%}
        update {{ target.schema }}.sync_sequence
        set current_value = (select max(seq) from {{ target.schema }}.sync_data)
        where
            id = 1
            and (select max(seq) from {{ target.schema }}.sync_data) > current_value
    {%- endcall -%}
    {%- else %}
    {%- call statement('rollback_delete') -%}
        delete from {{ target.schema }}.sync_data
        where exists (
            select 1
            from {{ ledger }} as owned
            where
                {{ owned_in_scope }}
                and sync_data.user_id = owned.user_id
                and sync_data.entity_type = owned.entity_type
                and sync_data.entity_id = owned.entity_id
                and {{ as_left }}
        )
    {%- endcall -%}
    {%- call statement('rollback_forget_ownership') -%}
        delete from {{ ledger }} as owned where {{ owned_in_scope }}
    {%- endcall -%}
    {%- endif %}
    {%- do adapter.commit() -%}
    {%- if features.seq %}
    {{ log("rollback done: the rows above were tombstoned in " ~ target_database_label()
        ~ " with fresh seq numbers, so devices delete them too; their ledger entries are "
        ~ "marked down, the next run revives any whose backend row is live, and the "
        ~ "rollback is recorded in its migration_runs as rolled_back.", info=True) }}
    {%- else %}
    {{ log("rollback done: the rows above were deleted from " ~ target_database_label()
        ~ ", their keys left the ownership ledger, and the rollback is recorded in its "
        ~ "migration_runs as rolled_back.", info=True) }}
    {%- endif %}
{%- endmacro %}
