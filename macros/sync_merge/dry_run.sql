{#
    The dry run (`--vars '{dry_run: true}'`): sync_data's materialization
    classifies this run's rows in a temp table and stops. Here the plan is
    told: per entity type, how many rows would be inserted, updated, left
    unchanged and rejected, with the first 20 ids of each kind on the console
    and every id in a CSV file (var dry_run_csv, default target/dry_run.csv).
    Nothing is written to the target database.
#}
{% macro sync_dry_run_report(incoming) -%}
    {%- set counts = run_query(
        "select scope.entity_type,"
        ~ " count(case when incoming.sync_action = 'insert' then 1 end) as inserts,"
        ~ " count(case when incoming.sync_action = 'update' then 1 end) as updates,"
        ~ " count(case when incoming.sync_action = 'unchanged' then 1 end) as unchanged,"
        ~ " count(case when incoming.sync_action = 'rejected' then 1 end) as rejected"
        ~ " from (" ~ entity_types_in_scope_sql() ~ ") as scope"
        ~ " left join " ~ incoming ~ " as incoming on scope.entity_type = incoming.entity_type"
        ~ " group by scope.entity_type order by scope.entity_type"
    ) -%}
    {%- set plan = run_query(
        "select entity_type, sync_action as action, entity_id, user_id, reject_reason"
        ~ " from " ~ incoming ~ " order by entity_type, sync_action, entity_id"
    ) -%}
    {%- set csv_path = var('dry_run_csv', 'target/dry_run.csv') -%}
    {%- do plan.to_csv(csv_path) -%}
    {{ log("DRY RUN on target " ~ target.name ~ ": nothing is written.", info=True) }}
    {%- for row in counts -%}
        {{ log("dry run " ~ row['entity_type'] ~ ": would insert=" ~ row['inserts']
            ~ " update=" ~ row['updates'] ~ " leave unchanged=" ~ row['unchanged']
            ~ " reject=" ~ row['rejected'], info=True) }}
        {%- for action in ['insert', 'update', 'rejected'] -%}
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
