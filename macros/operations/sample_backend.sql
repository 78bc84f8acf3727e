{#
    The backend's own DDL (contract, "Source tables"): types, defaults and
    constraints. The sample backend of the dev database is created with it,
    never with the types a CSV loader would guess.
#}
{% macro backend_table_ddl(table_name, schema=target.schema) -%}
    {%- set ddl = {
        'users': "create table " ~ schema ~ ".users (
            id text primary key,
            email text unique not null,
            display_name text,
            primary_instrument text not null default 'PIANO',
            created_at datetime default current_timestamp,
            updated_at datetime default current_timestamp
        )",
        'logbook_entries': "create table " ~ schema ~ ".logbook_entries (
            id text primary key,
            user_id text not null references users (id),
            timestamp integer not null,
            duration integer not null,
            type text not null,
            instrument text not null,
            pieces text not null default '[]',
            techniques text not null default '[]',
            goal_ids text not null default '[]',
            notes text,
            mood text,
            tags text not null default '[]',
            session_id text references practice_sessions (id),
            metadata text,
            created_at integer not null,
            updated_at integer not null
        )",
        'goals': "create table " ~ schema ~ ".goals (
            id text primary key,
            user_id text not null references users (id),
            title text not null,
            description text,
            target_date integer,
            progress real not null default 0,
            milestones text not null default '[]',
            status text not null default 'ACTIVE',
            linked_entries text not null default '[]',
            created_at integer not null,
            updated_at integer not null,
            completed_at integer
        )",
        'practice_sessions': "create table " ~ schema ~ ".practice_sessions (
            id text primary key,
            user_id text not null references users (id),
            instrument text not null,
            sheet_music_id text,
            session_type text not null,
            started_at datetime not null,
            completed_at datetime,
            paused_duration integer default 0,
            accuracy_percentage real,
            notes_attempted integer default 0,
            notes_correct integer default 0
        )",
    } -%}
    {{ return(backend_ddl_for_engine(ddl[table_name], schema)) }}
{%- endmacro %}

{% macro backend_table_names() -%}
    {{ return(['users', 'practice_sessions', 'logbook_entries', 'goals']) }}
{%- endmacro %}

{#
    run-operation: create the backend tables (empty) in the target database.
    For test fixtures and fresh dev databases only: it refuses any target but
    dev, and it never touches a table that exists.
#}
{% macro create_backend_tables() -%}
    {%- if target.name != 'dev' and not var('scratch_database', false) -%}
        {{ exceptions.raise_compiler_error(
            "create_backend_tables only runs against the dev target (or a "
            ~ "throwaway database named so with --vars '{scratch_database: true}'); in "
            ~ target.name ~ " the backend tables are the source of truth."
        ) }}
    {%- endif -%}
    {%- for table_name in backend_table_names() -%}
        {%- if load_relation(api.Relation.create(schema=target.schema, identifier=table_name)) is none -%}
            {%- do run_query(backend_table_ddl(table_name)) -%}
            {{ log("created backend table " ~ target.schema ~ "." ~ table_name, info=True) }}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}

{#
    Seed post-hook: copy a sample CSV (loaded as text into the work file) into
    its backend table with the real DDL, so that column affinities give each
    value the storage class the backend would. Only in dev, and only into a
    table this hook creates: an existing backend table is never written.
    In the CSVs an empty field is NULL and the marker <empty> is ''.
#}
{% macro load_sample_backend_table(seed_relation, table_name) -%}
    {#- Seeds are disabled outside dev, and only the default dev database is
        filled: a SYNC_DB_PATH exported for a real database must never get
        sample rows. -#}
    {%- if not execute or target.name != 'dev'
        or target.schemas_and_paths['main'] != 'data/dev.db' -%}
        {{ return('select 1') }}
    {%- endif -%}
    {%- set backend_relation = load_relation(
        api.Relation.create(schema=target.schema, identifier=table_name)
    ) -%}
    {%- if backend_relation is not none or var('dry_run', false) -%}
        {{ log("sample backend: " ~ target.schema ~ "." ~ table_name ~ " not loaded ("
            ~ ("dry run" if var('dry_run', false) else "it exists; left as it is") ~ ")", info=True) }}
        {{ return('select 1') }}
    {%- endif -%}
    {%- do run_query(backend_table_ddl(table_name)) -%}
    {%- set columns = adapter.get_columns_in_relation(seed_relation) -%}
    insert into {{ target.schema }}.{{ table_name }} (
        {{ columns | map(attribute='name') | join(', ') }}
    )
    select
        {%- for column in columns %}
        case
            when "{{ column.name }}" = '<empty>' then ''
            else "{{ column.name }}"
        end{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ seed_relation }}
{%- endmacro %}
