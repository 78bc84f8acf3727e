{#
    run-operation rollback_sync_data: remove migrated rows from sync_data.
      --args '{entity_type: goal}'            one entity type (or a list: entity_types)
      --args '{user_id: u_123}'               one user's migrated rows
      --args '{all: true, confirm: true}'     all three migration entity types
      add dry_run: true to only count what would go.
    Only logbook_entry, goal and practice_session rows are ever deleted, never
    a row of another entity type (the API's own). Arguments are data: they
    reach SQL only as escaped literals. Each real rollback is one transaction
    and leaves a `rolled_back` row per entity type in migration_runs.
#}
{% macro rollback_sync_data(entity_type=none, entity_types=none, user_id=none, all=false, confirm=false, dry_run=false) -%}
    {%- set known = migration_entity_types() -%}
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
    {%- set where -%}
        sync_data.entity_type in ({% for name in scope %}{{ sql_string(name) }}{% if not loop.last %}, {% endif %}{% endfor %})
        {%- if user_id is not none %} and user_id = {{ sql_string(user_id) }}{% endif %}
    {%- endset -%}
    {%- set counts = run_query(
        "select scope.entity_type, count(sync_data.id) as n from ("
        ~ entity_types_in_scope_sql(scope) ~ ") as scope left join " ~ target.schema ~ ".sync_data"
        ~ " on sync_data.entity_type = scope.entity_type and " ~ where
        ~ " group by scope.entity_type order by scope.entity_type"
    ) -%}
    {%- for row in counts -%}
        {{ log("rollback " ~ row['entity_type'] ~ (" (user " ~ user_id ~ ")" if user_id is not none else "")
            ~ " in " ~ target_database_label() ~ ": "
            ~ ("would delete " if dry_run else "deleting ") ~ row['n'] ~ " rows", info=True) }}
    {%- endfor -%}
    {%- if dry_run -%}
        {{ log("rollback dry run: nothing was deleted from " ~ target_database_label() ~ ".", info=True) }}
        {{ return('') }}
    {%- endif -%}
    {#- the old script's migration_runs would fail the record after the counts -#}
    {%- do check_run_history_tables() -%}
    {%- do run_query(create_migration_runs_table()) -%}
    {%- call statement('rollback_history') -%}
        insert into {{ target.schema }}.migration_runs (
            id, run_id, entity_type, target_name, user_id_filter,
            entity_types_filter, started_at, completed_at, status,
            processed_count, deleted_count
        )
        select
            run.run_id || ':rollback:' || scope.entity_type,
            run.run_id,
            scope.entity_type,
            run.target_name,
            {{ sql_string(user_id) if user_id is not none else 'null' }},
            run.entity_types_filter,
            run.started_at,
            {{ now_text() }},
            'rolled_back',
            count(sync_data.id),
            count(sync_data.id)
        from ({{ entity_types_in_scope_sql(scope) }}) as scope
        cross join (select {{ migration_run_literals(scope) }}) as run
        left join {{ target.schema }}.sync_data
            on sync_data.entity_type = scope.entity_type and {{ where }}
        group by
            scope.entity_type,
            run.run_id,
            run.target_name,
            run.entity_types_filter,
            run.started_at
    {%- endcall -%}
    {%- call statement('rollback_delete') -%}
        delete from {{ target.schema }}.sync_data where {{ where }}
    {%- endcall -%}
    {%- do adapter.commit() -%}
    {{ log("rollback done: the rows above were deleted from " ~ target_database_label()
        ~ " and the rollback is recorded in its migration_runs as rolled_back.", info=True) }}
{%- endmacro %}
