{#
    The dry run (`--vars '{dry_run: true}'`): sync_data's materialization
    plans this run's rows in a temp table and stops. Here the plan is told:
    per entity type, how many rows would be inserted, updated, tombstoned,
    revived, left unchanged, kept for the API, adopted and rejected, and the
    conflicts by kind with the on_conflict policy that would settle them;
    the first 20 ids of each kind on the console and every planned row in a
    CSV file (var dry_run_csv, default target/dry_run.csv). Nothing is
    written to the target database.
#}
{% macro sync_dry_run_report(incoming, features) -%}
    {%- set actions = ['insert', 'update', 'tombstone', 'revive', 'unchanged', 'kept_for_api', 'rejected'] -%}
    {%- set kinds = ['unknown_origin', 'both_changed', 'deleted_in_backend'] -%}
    {%- set counts_sql -%}
        select
            scope.entity_type,
            {%- for action in actions %}
            count(case when incoming.sync_action = {{ sql_string(action) }} then 1 end) as planned_{{ action }},
            {%- endfor %}
            {%- for kind in kinds %}
            count(case when incoming.conflict_kind = {{ sql_string(kind) }} then 1 end) as planned_{{ kind }},
            {%- endfor %}
            count(case when incoming.adopted = 1 then 1 end) as planned_adopted,
            min({{ merge_new_seq('incoming') }}) as first_seq,
            max({{ merge_new_seq('incoming') }}) as last_seq
        from ({{ entity_types_in_scope_sql() }}) as scope
        left join {{ incoming }} as incoming on scope.entity_type = incoming.entity_type
        group by scope.entity_type
        order by scope.entity_type
    {%- endset -%}
    {%- set counts = run_query(counts_sql) -%}
    {%- set plan = run_query(
        "select entity_type, sync_action as action, conflict_kind, adopted, "
        ~ merge_new_seq('incoming') ~ " as new_seq, entity_id, user_id, reject_reason"
        ~ " from " ~ incoming ~ " as incoming where sync_action != 'absent'"
        ~ " order by entity_type, sync_action, entity_id"
    ) -%}
    {%- set csv_path = var('dry_run_csv', 'target/dry_run.csv') -%}
    {%- do plan.to_csv(csv_path) -%}
    {{ log("DRY RUN on target " ~ target.name ~ ": nothing is written.", info=True) }}
    {%- for row in counts -%}
        {{ log("dry run " ~ row['entity_type'] ~ ": would insert=" ~ row['planned_insert']
            ~ " update=" ~ row['planned_update'] ~ " leave unchanged=" ~ row['planned_unchanged']
            ~ " reject=" ~ row['planned_rejected'] ~ " tombstone=" ~ row['planned_tombstone']
            ~ " revive=" ~ row['planned_revive'] ~ " keep for the API=" ~ row['planned_kept_for_api']
            ~ " adopt=" ~ row['planned_adopted'] ~ " conflicts=" ~ (row['planned_unknown_origin'] + row['planned_both_changed'] + row['planned_deleted_in_backend'])
            ~ (" (seq " ~ row['first_seq'] ~ ".." ~ row['last_seq'] ~ ")"
                if features.seq and row['first_seq'] is not none else ""), info=True) }}
        {%- for kind in kinds if row['planned_' ~ kind] -%}
            {{ log("  conflict " ~ kind ~ ": " ~ row['planned_' ~ kind] ~ ", settled by on_conflict="
                ~ on_conflict_policy(), info=True) }}
        {%- endfor -%}
        {%- for action in ['insert', 'update', 'tombstone', 'revive', 'kept_for_api', 'rejected'] -%}
            {%- set ids = [] -%}
            {%- for planned in plan.rows
                if planned['entity_type'] == row['entity_type'] and planned['action'] == action -%}
                {%- do ids.append(planned['entity_id'] | string) -%}
            {%- endfor -%}
            {%- if ids -%}
                {{ log("  " ~ action ~ " (" ~ ids | length ~ "): " ~ ids[:20] | join(', ')
                    ~ (", ..." if ids | length > 20 else ""), info=True) }}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ log("dry run: every planned row is in " ~ csv_path, info=True) }}
{%- endmacro %}
