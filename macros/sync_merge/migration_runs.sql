{#
    migration_runs: one row per entity type per real run (and per rollback),
    in the target database, as the old script kept it, with a count of every
    outcome of the merge (skipped_count: left unchanged; error_count:
    rejected). Written by sync_data's
    post-hook inside the merge's transaction, so a row says exactly what was
    committed; a run that fails gets its `failed` rows from on-run-end.
#}
{% macro create_migration_runs_table() -%}
    {%- set columns = run_history_columns()['migration_runs'] -%}
    create table if not exists {{ target.schema }}.migration_runs (
        {%- for name, ddl in columns.items() %}
        {{ name }} {{ ddl['create'] }}{{ "," if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{# The literals every history row of this invocation shares. #}
{% macro migration_run_literals(entity_types=none) -%}
    {%- set user_id = sync_user_id() -%}
    {{ sql_string(invocation_id) }} as run_id,
    {{ sql_string(target.name) }} as target_name,
    {{ sql_string(user_id) if user_id is not none else 'null' }} as user_id_filter,
    {{ sql_string((entity_types or sync_entity_types()) | join(',')) }} as entity_types_filter,
    {{ sql_string(run_started_at.strftime('%Y-%m-%d %H:%M:%S')) }} as started_at
{%- endmacro %}

{# A values list of the run's entity types, as a subquery. #}
{% macro entity_types_in_scope_sql(entity_types=none) -%}
    {%- for entity_type in (entity_types or sync_entity_types()) %}
    select {{ sql_string(entity_type) }} as entity_type
    {%- if not loop.last %} union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{# Post-hook of sync_data: the counts of this merge, per entity type. #}
{% macro record_migration_runs() -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- do run_query(create_migration_runs_table()) -%}
    insert into {{ target.schema }}.migration_runs (
        id, run_id, entity_type, target_name, user_id_filter,
        entity_types_filter, started_at, completed_at, status,
        processed_count, inserted_count, updated_count, skipped_count,
        error_count, tombstoned_count, revived_count, kept_for_api_count,
        conflict_count, adopted_count, last_processed_id
    )
    select
        run.run_id || ':' || scope.entity_type,
        run.run_id,
        scope.entity_type,
        run.target_name,
        run.user_id_filter,
        run.entity_types_filter,
        run.started_at,
        {{ now_text() }},
        'success',
        count(incoming.entity_type),
        count(case when incoming.sync_action = 'insert' then 1 end),
        count(case when incoming.sync_action = 'update' then 1 end),
        count(case when incoming.sync_action = 'unchanged' then 1 end),
        count(case when incoming.sync_action = 'rejected' then 1 end),
        count(case when incoming.sync_action = 'tombstone' then 1 end),
        count(case when incoming.sync_action = 'revive' then 1 end),
        count(case when incoming.sync_action = 'kept_for_api' then 1 end),
        count(incoming.conflict_kind),
        count(case when incoming.adopted = 1 then 1 end),
        max(incoming.entity_id)
    from ({{ entity_types_in_scope_sql() }}) as scope
    cross join (select {{ migration_run_literals() }}) as run
    left join {{ sync_upsert_incoming_relation() }} as incoming
        on scope.entity_type = incoming.entity_type
    group by
        scope.entity_type,
        run.run_id,
        run.target_name,
        run.user_id_filter,
        run.entity_types_filter,
        run.started_at
{%- endmacro %}
