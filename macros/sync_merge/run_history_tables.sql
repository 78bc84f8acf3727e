{#
    The columns this project writes into its history tables. A table of that
    name with another shape (the old migration script's migration_runs) cannot
    take the project's inserts; upgrading it is left to the operator.
#}
{% macro run_history_columns() -%}
    {{ return({
        'migration_runs': [
            'id', 'run_id', 'entity_type', 'target_name', 'user_id_filter',
            'entity_types_filter', 'started_at', 'completed_at', 'status',
            'processed_count', 'inserted_count', 'updated_count', 'skipped_count',
            'error_count', 'deleted_count', 'last_processed_id', 'error_message'
        ],
        'migration_rejects': [
            'entity_type', 'entity_key', 'entity_id', 'user_id', 'reason', 'value',
            'first_seen_at', 'last_seen_at'
        ]
    }) }}
{%- endmacro %}

{#
    The history tables of the target schema that exist with another shape,
    each as {table, text: "<table> lacks column(s) ..."}; empty when every
    one that exists can be written.
    Arguments:
    - tables: the tables to look at; every history table when none
#}
{% macro run_history_shape_problems(tables=none) -%}
    {%- set wanted = run_history_columns() -%}
    {%- set existing = run_query(table_names_sql()).columns[0].values() | list -%}
    {%- set problems = [] -%}
    {%- for table in (tables or wanted.keys() | list) if table in existing -%}
        {%- set present = run_query(column_names_sql(table)).columns[0].values() | list -%}
        {%- set missing = [] -%}
        {%- for column in wanted[table] if column not in present -%}
            {%- do missing.append(column) -%}
        {%- endfor -%}
        {%- if missing -%}
            {%- do problems.append({'table': table, 'text': table ~ " lacks column(s) " ~ missing | join(', ')
                ~ (" (the old migration script's migration_runs has this shape)"
                    if table == 'migration_runs' and 'run_id' in missing else "")}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(problems) }}
{%- endmacro %}

{#
    Stop, before anything is written, when a history table this invocation
    would write has another shape: its insert would fail after the work was
    done (the merge's post-hook, a rollback's record) with a bare "no column
    named" error.
#}
{% macro check_run_history_tables() -%}
    {%- set problems = run_history_shape_problems() -%}
    {%- if problems -%}
        {%- set renames = [] -%}
        {%- for problem in problems -%}
            {%- do renames.append("alter table " ~ target.schema ~ "." ~ problem.table
                ~ " rename to " ~ problem.table ~ "_old") -%}
        {%- endfor -%}
        {{ exceptions.raise_compiler_error(
            "The " ~ target.name ~ " " ~ database_label(target.schema)
            ~ " has run history tables this project cannot write into: "
            ~ problems | map(attribute='text') | join('; ')
            ~ ". Nothing was changed. Keep the old rows under another name ("
            ~ renames | join('; ') ~ ") and run again: the project then creates its own "
            ~ problems | map(attribute='table') | join(' and ') ~ ".") }}
    {%- endif -%}
{%- endmacro %}
