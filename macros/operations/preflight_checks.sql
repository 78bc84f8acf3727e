{#
    on-run-start: refuse to run against the wrong database, with an error
    that says what is wrong and what to do, before any model reads or writes.
    - staging/prod: the database file must exist and hold tables (dbt-sqlite
      creates an empty file when the path names none; we stop right there);
    - every backend table the models read must exist (in dev a missing one is
      left to the sample loader) and have every column the sources declare;
    - a run that merges must be able to write its history: a migration_runs
      of an older shape (the old script's) is upgraded in place here, its
      rows kept, not found lacking after the merge.
#}
{% macro preflight_checks() -%}
    {%- if not execute or flags.WHICH not in ['run', 'build', 'test'] -%}
        {{ return('') }}
    {%- endif -%}
    {%- set db_path = target_database_label() -%}
    {%- set objects = run_query(table_names_sql()).columns[0].values() | list -%}
    {#- Only the embedded default may start empty: any other path that names
        no database is a mistake, and a run there would build a new one. -#}
    {%- set is_default_dev = target.name == 'dev' and db_path == 'data/dev.db' -%}
    {%- if objects | length == 0 and not is_default_dev -%}
        {%- set created = [db_path] -%}
        {%- if target.schemas_and_paths is defined and target.schemas_and_paths.get('work') -%}
            {%- do created.append(target.schemas_and_paths['work']) -%}
        {%- endif -%}
        {{ exceptions.raise_compiler_error(
            "The " ~ target.name ~ " database " ~ db_path ~ " does not exist or is empty. "
            ~ ("SQLite has just created empty files at " ~ created | join(' and ')
               ~ "; delete them. " if target.schemas_and_paths is defined else "")
            ~ "Check SYNC_DB_PATH: it must name the existing database file that holds "
            ~ "the backend tables and sync_data (only the default dev database, "
            ~ "data/dev.db, is created from the sample backend). Nothing was migrated.") }}
    {%- endif -%}
    {%- set problems = [] -%}
    {%- for source in graph.sources.values() if source.source_name == 'backend' -%}
        {%- if source.name not in objects -%}
            {%- if not is_default_dev -%}
                {%- do problems.append("the backend table " ~ source.name ~ " is missing") -%}
            {%- endif -%}
        {%- else -%}
            {%- set present = run_query(column_names_sql(source.name)).columns[0].values() | list -%}
            {%- set missing = [] -%}
            {%- for column in backend_columns(source.name) if column not in present -%}
                {%- do missing.append(column) -%}
            {%- endfor -%}
            {%- if missing -%}
                {%- do problems.append("the backend table " ~ source.name ~ " lacks column(s) " ~ missing | join(', ')) -%}
            {%- endif -%}
            {%- set typed_sql = unreadable_columns_sql(source.name) -%}
            {%- if typed_sql | trim -%}
                {%- set unreadable = [] -%}
                {%- for row in run_query(typed_sql) if row["name"] in backend_columns(source.name) -%}
                    {%- do unreadable.append(row['name'] ~ " (" ~ row['data_type'] ~ ")") -%}
                {%- endfor -%}
                {%- if unreadable -%}
                    {%- do problems.append("the backend table " ~ source.name
                        ~ " has column(s) of a type the project does not read: " ~ unreadable | join(', ')
                        ~ " (text, integer types, numeric, real or double precision)") -%}
                {%- endif -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if problems -%}
        {{ exceptions.raise_compiler_error(
            "The " ~ target.name ~ " database " ~ db_path ~ " is not the backend this project reads: "
            ~ problems | join('; ') ~ ". Check that SYNC_DB_PATH names the backend's database and "
            ~ "that its schema is current (see models/staging/backend/_backend__sources.yml for what is "
            ~ "needed); nothing was migrated.") }}
    {%- endif -%}
    {#- only a run that merges writes history: sync_data selected, not a dry run -#}
    {%- if flags.WHICH in ['run', 'build'] and not var('dry_run', false) -%}
        {%- for uid in selected_resources if uid.startswith('model.') and uid.endswith('.sync_data') -%}
            {%- do upgrade_run_history_tables() -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#
    on-run-end: when the database was locked by another writer for longer
    than the busy timeout, say so plainly.
#}
{% macro explain_locked_database(results) -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {#- SQLite says "database is locked", PostgreSQL "... due to lock timeout" -#}
    {%- for result in results if result.status == 'error'
        and ('database is locked' in (result.message or '') or 'lock timeout' in (result.message or '')) -%}
        {%- if loop.first -%}
            {{ log(
                "The database was locked by another writer (the API, wrangler, another dbt "
                ~ "run) for longer than the busy timeout of " ~ var('busy_timeout_ms', 10000)
                ~ " ms, so this run stopped and sync_data is as it was before it. Run again "
                ~ "when the other writer is done, or give it longer with "
                ~ "--vars '{busy_timeout_ms: 60000}'.", info=True) }}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}

{#
    on-run-end: when a node failed because its database could not be written
    (a read-only file or folder, a read-only user or transaction), say which
    one and what to do. SQLite does not name the file in its error; the
    failed node's schema does (sync_data: the database, the document
    cache: the work file).
#}
{% macro explain_unwritable_database(results) -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set labels = [] -%}
    {%- set errors = [] -%}
    {%- for result in results if result.status == 'error' -%}
        {%- for line in modules.re.split('[\\r\\n]+', result.message or '')
            if 'readonly database' in line or 'read-only transaction' in line or 'permission denied' in line -%}
            {%- set label = database_label(result.node.schema) -%}
            {%- if label not in labels -%}
                {%- do labels.append(label) -%}
                {%- do errors.append(line | trim) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if labels -%}
        {{ log(
            "The " ~ target.name ~ " " ~ labels | join(" and the ") ~ " could not be written ("
            ~ errors | unique | join('; ') ~ "): " ~ unwritable_database_advice()
            ~ " This run stopped before merging: sync_data is as it was before it.", info=True) }}
    {%- endif -%}
{%- endmacro %}

{#
    The target database as an operator names it in a message: the SQLite
    file, or the schema of a server database.
#}
{% macro target_database_label() -%}
    {%- if target.schemas_and_paths is defined -%}
        {{ return(target.schemas_and_paths['main']) }}
    {%- endif -%}
    {{ return('schema ' ~ target.schema ~ ' of database ' ~ target.dbname
        ~ ' on ' ~ target.host) }}
{%- endmacro %}
