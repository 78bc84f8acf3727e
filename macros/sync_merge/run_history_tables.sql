{#
    The columns of this project's history tables, each with the DDL that
    creates it and the DDL that adds it to an older table of the same name
    (no NOT NULL without a default, no CHECK: rows already there have no
    value for it). The one list: create_migration_runs_table and the upgrade
    both read it.
#}
{% macro run_history_columns() -%}
    {%- set count_column = {'create': 'integer not null default 0', 'add': 'integer not null default 0'} -%}
    {{ return({
        'migration_runs': {
            'id': {'create': 'text primary key', 'add': none},
            'run_id': {'create': 'text not null', 'add': 'text'},
            'entity_type': {'create': 'text not null', 'add': 'text'},
            'target_name': {'create': 'text not null', 'add': 'text'},
            'user_id_filter': {'create': 'text', 'add': 'text'},
            'entity_types_filter': {'create': 'text', 'add': 'text'},
            'started_at': {'create': 'text not null', 'add': 'text'},
            'completed_at': {'create': 'text', 'add': 'text'},
            'status': {
                'create': "text not null check (status in ('success', 'failed', 'rolled_back'))",
                'add': 'text',
            },
            'processed_count': count_column,
            'inserted_count': count_column,
            'updated_count': count_column,
            'skipped_count': count_column,
            'error_count': count_column,
            'deleted_count': count_column,
            'tombstoned_count': count_column,
            'revived_count': count_column,
            'kept_for_api_count': count_column,
            'conflict_count': count_column,
            'adopted_count': count_column,
            'last_processed_id': {'create': 'text', 'add': 'text'},
            'error_message': {'create': 'text', 'add': 'text'},
            'd1_bookmark': {'create': 'text', 'add': 'text'},
        },
        'migration_rejects': {
            'entity_type': {'create': 'text not null', 'add': none},
            'entity_key': {'create': 'text not null', 'add': none},
            'entity_id': {'create': 'text', 'add': 'text'},
            'user_id': {'create': 'text', 'add': 'text'},
            'reason': {'create': 'text not null', 'add': "text not null default ''"},
            'value': {'create': 'text', 'add': 'text'},
            'first_seen_at': {'create': 'text not null', 'add': "text not null default ''"},
            'last_seen_at': {'create': 'text not null', 'add': "text not null default ''"},
        },
    }) }}
{%- endmacro %}

{#
    The history tables of the target schema that exist without some of the
    project's columns, each as {table, missing, text}; empty when every one
    that exists has them all.
#}
{% macro run_history_shape_problems(tables=none) -%}
    {%- set wanted = run_history_columns() -%}
    {%- set existing = run_query(table_names_sql()).columns[0].values() | list -%}
    {%- set problems = [] -%}
    {%- for table in (tables or wanted.keys() | list) if table in existing -%}
        {%- set present = run_query(column_names_sql(table)).columns[0].values() | map('lower') | list -%}
        {%- set missing = [] -%}
        {%- for column in wanted[table] if column not in present -%}
            {%- do missing.append(column) -%}
        {%- endfor -%}
        {%- if missing -%}
            {%- do problems.append({'table': table, 'missing': missing,
                'text': table ~ " lacks column(s) " ~ missing | join(', ')
                ~ (" (the old migration script's migration_runs has this shape)"
                    if table == 'migration_runs' and 'run_id' in missing else "")}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(problems) }}
{%- endmacro %}

{#
    Before anything is written: a history table of an older shape gets the
    columns it lacks, in place, its rows kept. The old script's
    migration_runs (7 columns) is the case met in production: its rows get
    run_id = id, target_name 'old script' and a status (success when it
    completed, else failed), so that the script's own queries and this
    project's read the whole history. A key column cannot be added: such a
    table is refused, with what to do.
#}
{% macro upgrade_run_history_tables() -%}
    {%- set wanted = run_history_columns() -%}
    {%- for problem in run_history_shape_problems() -%}
        {%- set unaddable = [] -%}
        {%- for column in problem.missing if wanted[problem.table][column]['add'] is none -%}
            {%- do unaddable.append(column) -%}
        {%- endfor -%}
        {%- if unaddable -%}
            {{ exceptions.raise_compiler_error(
                "The " ~ target.name ~ " " ~ database_label(target.schema) ~ " has a "
                ~ problem.table ~ " this project cannot upgrade: it lacks its key column(s) "
                ~ unaddable | join(', ') ~ ". Nothing was changed. Keep its rows under another name "
                ~ "(alter table " ~ target.schema ~ "." ~ problem.table ~ " rename to "
                ~ problem.table ~ "_old) and run again.") }}
        {%- endif -%}
        {%- for column in problem.missing -%}
            {%- call statement('add_' ~ problem.table ~ '_' ~ column) -%}
                alter table {{ target.schema }}.{{ problem.table }}
                add column {{ column }} {{ wanted[problem.table][column]['add'] }}
            {%- endcall -%}
        {%- endfor -%}
        {%- if problem.table == 'migration_runs' and 'run_id' in problem.missing -%}
            {%- call statement('adopt_script_history') -%}
                update {{ target.schema }}.migration_runs
                set
                    run_id = id,
                    target_name = 'old script',
                    status = case when completed_at is null then 'failed' else 'success' end
                where run_id is null
            {%- endcall -%}
        {%- endif -%}
        {%- do retype_history_timestamps(problem.table) -%}
        {%- do adapter.commit() -%}
        {{ log("Upgraded " ~ problem.table ~ " in place in the " ~ target.name ~ " "
            ~ database_label(target.schema) ~ ": added " ~ problem.missing | join(', ')
            ~ "; its rows are kept.", info=True) }}
    {%- endfor -%}
{%- endmacro %}

{#
    The project writes its history times as 'YYYY-MM-DD HH:MM:SS' text. On
    PostgreSQL an older table may hold them in timestamp columns (the old
    script's DDL), which would refuse that text: they become text of the
    same form, every row's value kept. SQLite stores any type in any column.
#}
{% macro retype_history_timestamps(table) -%}
    {{ return(adapter.dispatch('retype_history_timestamps')(table)) }}
{%- endmacro %}

{% macro sqlite__retype_history_timestamps(table) -%}
{%- endmacro %}

{% macro postgres__retype_history_timestamps(table) -%}
    {%- set typed = run_query(
        "select column_name from information_schema.columns"
        ~ " where table_schema = " ~ sql_string(target.schema)
        ~ " and table_name = " ~ sql_string(table)
        ~ " and data_type like 'timestamp%'"
    ).columns[0].values() | list -%}
    {%- for column in typed -%}
        {%- call statement('retype_' ~ table ~ '_' ~ column) -%}
            alter table {{ target.schema }}.{{ table }}
            alter column {{ column }} drop default,
            alter column {{ column }} type text
            using to_char({{ column }}, 'YYYY-MM-DD HH24:MI:SS')
        {%- endcall -%}
    {%- endfor -%}
{%- endmacro %}
