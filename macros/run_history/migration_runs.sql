{#
    migration_runs: one row per entity type per real run (and per rollback),
    in the target database, as the old script kept it. Written by sync_data's
    post-hook inside the merge's transaction, so a row says exactly what was
    committed; a run that fails gets its `failed` rows from on-run-end.
#}
{% macro create_migration_runs_table() -%}
    create table if not exists {{ target.schema }}.migration_runs (
        id text primary key,
        run_id text not null,
        entity_type text not null,
        target_name text not null,
        user_id_filter text,
        entity_types_filter text,
        started_at text not null,
        completed_at text,
        status text not null check (status in ('success', 'failed', 'rolled_back')),
        processed_count integer not null default 0,
        inserted_count integer not null default 0,
        updated_count integer not null default 0,
        skipped_count integer not null default 0,
        error_count integer not null default 0,
        deleted_count integer not null default 0,
        last_processed_id text,
        error_message text
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
        error_count, last_processed_id
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

{#
    on-run-end: a real run (run or build) whose sync_data model did not
    succeed gets a `failed` row per entity type, with dbt's error message cut
    to one plain line; sync_data itself was left as it was (its transaction
    never committed). Jinja cannot catch an exception, and one raised here
    would end the run as a "keyboard interrupt" (dbt handles an on-run-end
    hook's compile error that way), so every write that is known to fail is
    not attempted: the run says in one line why it was not recorded.
#}
{% macro record_failed_migration(results) -%}
    {%- if not execute or var('dry_run', false) or flags.WHICH not in ['run', 'build'] -%}
        {{ return('') }}
    {%- endif -%}
    {%- set failures = [] -%}
    {%- set messages = [] -%}
    {%- set sync_result = [] -%}
    {%- for result in results -%}
        {%- if result.node.resource_type == 'model' and result.node.name == 'sync_data' -%}
            {%- do sync_result.append(result) -%}
        {%- endif -%}
        {%- if result.status in ['error', 'fail'] and result.node.resource_type != 'test' -%}
            {%- do failures.append(result.node.resource_type | replace('_', ' ') ~ ' '
                ~ result.node.name ~ ': ' ~ one_line_error(result.message or 'failed')) -%}
            {%- do messages.append(result.message or '') -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if sync_result | length == 0 or sync_result[0].status == 'success' -%}
        {{ return('') }}
    {%- endif -%}
    {%- set message = failures | join('; ') if failures else 'sync_data ' ~ sync_result[0].status -%}
    {%- set why_not = run_history_unwritable_reason(messages | join('\n')) -%}
    {%- if not why_not -%}
        {%- set why_not = run_history_shape_problems(['migration_runs']) | map(attribute='text') | join('; ') -%}
    {%- endif -%}
    {%- if why_not -%}
        {{ log("The failed run could not be recorded in migration_runs: " ~ why_not ~ ".", info=True) }}
        {{ return('') }}
    {%- endif -%}
    {%- do run_query(create_migration_runs_table()) -%}
    {%- call statement('record_failed_migration') -%}
        insert into {{ target.schema }}.migration_runs (
            id, run_id, entity_type, target_name, user_id_filter,
            entity_types_filter, started_at, completed_at, status, error_message
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
            'failed',
            {{ sql_string(message if message | length <= 500 else message[:497] ~ '...') }}
        from ({{ entity_types_in_scope_sql() }}) as scope
        cross join (select {{ migration_run_literals() }}) as run
    {%- endcall -%}
    {%- do adapter.commit() -%}
{%- endmacro %}

{#
    dbt's error message of a node as one plain line for migration_runs and
    the console: colour codes stripped, dbt's "Database Error in model x
    (path)" header shortened to "Database Error:", blank lines, "compiled code
    at" pointers and a unit test's diff dropped. The full text stays in dbt's
    log (logs/dbt.log) and its console output.
    Arguments:
    - message: the node's error message, as dbt reports it
#}
{% macro one_line_error(message) -%}
    {%- set re = modules.re -%}
    {%- set plain = re.sub('\\x1b\\[[0-9;?]*[ -/]*[@-~]', '', message | string) -%}
    {%- set lines = [] -%}
    {%- for line in re.split('[\\r\\n]+', plain) -%}
        {%- set line = re.sub('\\s+', ' ', line) | trim -%}
        {%- if line and not line.lower().startswith('compiled code at') -%}
            {%- do lines.append(line) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not lines -%}{{ return('failed') }}{%- endif -%}
    {%- set header = re.match('^(.*\\b(?:Error|Exception|Failure))\\s+in\\s+\\S+\\s+\\S+\\s+\\(.*\\)$', lines[0]) -%}
    {%- if header and lines | length > 1 -%}
        {{ return(header.group(1) ~ ': ' ~ lines[1]) }}
    {%- endif -%}
    {{ return(lines[0].rstrip(':')) }}
{%- endmacro %}

{#
    Why a failed run's history cannot be written, from its error messages:
    the database is locked, read-only, full, damaged or not reachable, so the
    write would fail too (and, raised in on-run-end, end the run as a fake
    keyboard interrupt). '' when nothing says so.
    Arguments:
    - message: the failed nodes' error messages, joined
#}
{% macro run_history_unwritable_reason(message) -%}
    {#- PostgreSQL's "lock timeout" is about sync_data only: the history can be written -#}
    {%- if 'database is locked' in message -%}
        {{ return('the database is locked') }}
    {%- endif -%}
    {#- SQLite's and PostgreSQL's words for a database that cannot be written now -#}
    {%- set signs = [
        'readonly database', 'read-only transaction', 'permission denied',
        'database or disk is full', 'no space left', 'disk i/o error',
        'unable to open database file', 'file is not a database', 'disk image is malformed'
    ] -%}
    {%- for line in modules.re.split('[\\r\\n]+', message) -%}
        {%- for sign in signs if sign in line.lower() -%}
            {{ return('the database could not be written (' ~ one_line_error(line) ~ ')') }}
        {%- endfor -%}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}

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
