{#
    migration_runs: one row per entity type per real run (and per rollback),
    in the target database, as the old script kept it, with a count of every
    outcome of the merge (skipped_count: left unchanged; error_count:
    rejected). Written by sync_data's materialization inside the merge's
    transaction, so a row says exactly what was committed; a run that fails
    gets its `failed` rows from on-run-end.
#}
{% macro create_migration_runs_table() -%}
    {%- set columns = run_history_columns()['migration_runs'] -%}
    create table if not exists {{ target.schema }}.migration_runs (
        {%- for name, ddl in columns.items() %}
        {{ name }} {{ ddl['create'] }}{{ "," if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{# A values list of the run's entity types, as a subquery. #}
{% macro entity_types_in_scope_sql(entity_types=none) -%}
    {%- for entity_type in (entity_types or sync_entity_types()) %}
    select {{ sql_string(entity_type) }} as entity_type
    {%- if not loop.last %} union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{#
    The one writer of migration_runs: one row per entity type of the scope,
    with what every row of this invocation shares (run_id, target, filters,
    started_at), completed_at now, the status and the counts.
#}
{% macro write_migration_runs(status, counts, counted_from=none, entity_types=none, user_id=none, id_part=':') -%}
    {%- set scope = entity_types or sync_entity_types() -%}
    {%- call statement('create_migration_runs') -%}
        {{ create_migration_runs_table() }}
    {%- endcall -%}
    {%- call statement('write_migration_runs') -%}
        insert into {{ target.schema }}.migration_runs (
            id, run_id, entity_type, target_name, user_id_filter,
            entity_types_filter, started_at, completed_at, status
            {%- for column in counts %}, {{ column }}{% endfor %}
        )
        select
            run.run_id || {{ sql_string(id_part) }} || scope.entity_type,
            run.run_id,
            scope.entity_type,
            run.target_name,
            run.user_id_filter,
            run.entity_types_filter,
            run.started_at,
            {{ now_text() }},
            {{ sql_string(status) }}
            {%- for expression in counts.values() %},
            {{ expression }}
            {%- endfor %}
        {{ counted_from or 'from (' ~ entity_types_in_scope_sql(scope) ~ ') as scope' }}
        cross join (
            select
                {{ sql_string(invocation_id) }} as run_id,
                {{ sql_string(target.name) }} as target_name,
                {{ sql_string(user_id) if user_id is not none else 'null' }} as user_id_filter,
                {{ sql_string(scope | join(',')) }} as entity_types_filter,
                {{ sql_string(run_started_at.strftime('%Y-%m-%d %H:%M:%S')) }} as started_at
        ) as run
        group by
            scope.entity_type,
            run.run_id,
            run.target_name,
            run.user_id_filter,
            run.entity_types_filter,
            run.started_at
    {%- endcall -%}
{%- endmacro %}

{#
    The counts of this merge, per entity type, in its transaction.
#}
{% macro record_migration_runs(incoming) -%}
    {%- set outcomes = {
        'processed_count': 'count(*)',
        'inserted_count': "count(case when planned.sync_action = 'insert' then 1 end)",
        'updated_count': "count(case when planned.sync_action = 'update' then 1 end)",
        'skipped_count': "count(case when planned.sync_action = 'unchanged' then 1 end)",
        'error_count': "count(case when planned.sync_action = 'rejected' then 1 end)",
        'tombstoned_count': "count(case when planned.sync_action = 'tombstone' then 1 end)",
        'revived_count': "count(case when planned.sync_action = 'revive' then 1 end)",
        'kept_for_api_count': "count(case when planned.sync_action = 'kept_for_api' then 1 end)",
        'conflict_count': 'count(planned.conflict_kind)',
        'adopted_count': 'count(case when planned.adopted = 1 then 1 end)',
        'last_processed_id': 'max(planned.entity_id)',
    } -%}
    {#- Counted per entity type in one pass over the plan, then joined to
        the scope: joined first, the plan would be scanned once per type. -#}
    {%- set counted_from -%}
        from ({{ entity_types_in_scope_sql() }}) as scope
        left join (
            select
                planned.entity_type
                {%- for column, expression in outcomes.items() %},
                {{ expression }} as {{ column }}
                {%- endfor %}
            from {{ incoming }} as planned
            group by planned.entity_type
        ) as counted
            on scope.entity_type = counted.entity_type
    {%- endset -%}
    {%- set counts = {} -%}
    {%- for column in outcomes -%}
        {%- if column == 'last_processed_id' -%}
            {%- do counts.update({column: 'max(counted.' ~ column ~ ')'}) -%}
        {%- else -%}
            {%- do counts.update({column: 'coalesce(max(counted.' ~ column ~ '), 0)'}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do write_migration_runs('success', counts, counted_from, user_id=sync_user_id()) -%}
{%- endmacro %}
