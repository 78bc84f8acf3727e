{#
    The int_<table>_documented models keep their documents between runs, in
    the work file (SQLite) or the work schema (PostgreSQL), so that a re-run
    builds only the documents of the backend rows that changed since.
    A cached document is reused while the backend row's fingerprint is the
    one it was built from. The fingerprint (row_fingerprint) covers every
    backend column (NULL, '', 5 and '5' apart) and the compiled SQL of the
    document, so a change to a model or a macro rebuilds every document.
    It covers the deleted flag too. The API's changes are the merge's job.
    On PostgreSQL it also covers install_js_functions' SQL. After an upgrade
    of SQLite's C extension (extensions/sqlite/*.c), which no SQL text shows,
    rebuild the cache once: `dbt run --full-refresh --select intermediate`.
#}

{#
    A documented model's CTEs around its own two parts, the checks (CTEs
    that read `changed` and end in `checked`, with every backend column and
    reject_reason) and the document (the JSON text of a row that passes):
    - fingerprinted: each backend row with its entity_key and fingerprint;
    - changed: the rows whose document this run must build;
    - the checks;
    - documented: each checked row with its document (on SQLite built for a
      rejected row too, see checked_materialization);
    - final: the cache row, typed, with the checksum and the rejected
      value; no document for a rejected row.
    The text of everything after `changed` is part of every fingerprint.
#}
{% macro document_cache_ctes(table_name, entity_type, checks, document) -%}
    {%- set columns = backend_columns(table_name) -%}
    {#- Explicit types, so that the work table declares its columns (an
        undeclared SQLite column reads as UNKNOWN, and dbt unit tests cast
        expected values to the type they read); document_storage.sql's. -#}
    {%- set documented -%}
documented as materialized (
    select
        checked.*,
        {{ document_of_checked(document) }} as data
    from checked
),

final as (
    select
        cast({{ sql_string(entity_type) }} as text) as entity_type,
        cast(id as text) as entity_id,
        cast(user_id as text) as user_id,
        cast(
            case
                when reject_reason is null then {{ pack_document('data') }}
            end as {{ stored_type() }}
        ) as data,
        cast(
            case
                when reject_reason is null then {{ stored_checksum('data') }}
            end as {{ stored_type() }}
        ) as checksum,
        cast(entity_key as text) as entity_key,
        cast(reject_reason as text) as reject_reason,
        cast({{ reject_value('reject_reason', columns) }} as text)
        as reject_value,
        cast(backend_deleted as integer) as backend_deleted,
        cast(source_fingerprint as {{ stored_type() }}) as source_fingerprint
    from documented
)
    {%- endset -%}
fingerprinted as (
    select
        {{ table_name }}.*,
        {{ entity_key('id', columns) }} as entity_key,
        {{ source_fingerprint(columns + ['backend_deleted'], checks ~ documented) }}
        as source_fingerprint
    from {{ table_name }}
),

changed as (
    select * from fingerprinted
    where {{ needs_transforming('fingerprinted') }}
),

{{ checks }},

{{ documented }}
{%- endmacro %}

{#
    How `checked` is computed, and the document of a checked row. Each row's
    reject_reason must be computed once: the checks are a third of a
    document's cost. PostgreSQL materializes `checked` and builds no document
    for a rejected row, whose text timestamp its casts would refuse. SQLite
    inlines `checked` into `documented`, which is materialized and so
    computes reject_reason once, and builds every row's document: copying
    every row once more cost 0.2 s at 200,000 logbook entries. The
    extension's functions give NULL, never an error, for a value the checks
    reject, and `final` drops the document of a rejected row.
#}
{% macro checked_materialization() -%}
    {{ return(adapter.dispatch('checked_materialization')()) }}
{%- endmacro %}

{% macro sqlite__checked_materialization() -%}{%- endmacro %}

{% macro postgres__checked_materialization() -%}materialized{%- endmacro %}

{% macro document_of_checked(document) -%}
    {{ return(adapter.dispatch('document_of_checked')(document)) }}
{%- endmacro %}

{% macro sqlite__document_of_checked(document) -%}
    {{ document }}
{%- endmacro %}

{% macro postgres__document_of_checked(document) -%}
    case
        when checked.reject_reason is null then {{ document }}
    end
{%- endmacro %}

{#
    A backend row's fingerprint: its values and the SQL that documents it.
#}
{% macro source_fingerprint(columns, transformation) -%}
    {{ row_fingerprint(
        sql_string(local_md5(transformation ~ install_js_functions())), columns
    ) }}
{%- endmacro %}

{#
    The where-clause that keeps the backend rows whose document must be
    (re)built: all of them on a first or --full-refresh run, afterwards those
    with no cached document of the same fingerprint.
#}
{% macro needs_transforming(relation) -%}
    {%- if is_incremental() -%}
        not exists (
            select 1
            from {{ this }} as cached
            where
                cached.entity_key = {{ relation }}.entity_key
                and cached.source_fingerprint = {{ relation }}.source_fingerprint
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{# Post-hook of a documented model: the index the cache lookup uses. #}
{% macro index_document_cache() -%}
    {{ return(adapter.dispatch('index_document_cache')()) }}
{%- endmacro %}

{#- The second index finds the rows built since a narrowed merge's mark. -#}
{% macro sqlite__index_document_cache() -%}
    {%- do run_query('create index if not exists ' ~ this.schema ~ '.' ~ this.identifier
        ~ '__built on ' ~ this.identifier ~ ' (built_in)') -%}
    create index if not exists {{ this.schema }}.{{ this.identifier }}__cache
    on {{ this.identifier }} (entity_key, source_fingerprint)
{%- endmacro %}

{#-
    PostgreSQL: index names are per schema, and after --full-refresh the
    backup table still holds the old name until dbt drops it; so the index is
    unnamed and made only when the table has none on these columns.
-#}
{% macro postgres__index_document_cache() -%}
    do $$
    begin
        {%- for columns in ['entity_key, source_fingerprint', 'built_in'] %}
        if not exists (
            select 1
            from pg_indexes
            where
                schemaname = {{ sql_string(this.schema) }}
                and tablename = {{ sql_string(this.identifier) }}
                and indexdef like '%({{ columns }})'
        ) then
            create index on {{ this }} ({{ columns }});
        end if;
        {%- endfor %}
    end
    $$
{%- endmacro %}

{#
    A key's cached document, looked up where the merge needs it (a write or
    a conflict) rather than carried through the comparison of every key:
    the comparison then copies narrow rows. Only the entity types of the
    run's scope are read (the others' caches may not exist yet).
#}
{% macro cached_document(alias) -%}
    {#- Every cache is ref'd, in scope or not, so the lineage is the same
        whatever the run selects. -#}
    {%- set caches = {} -%}
    {%- for entity_type, table in migration_entity_tables().items() -%}
        {%- do caches.update({entity_type: ref('int_' ~ table ~ '_documented')}) -%}
    {%- endfor -%}
    case {{ alias }}.entity_type
        {%- for entity_type in sync_entity_types() %}
        when {{ sql_string(entity_type) }}
            then (
                select {{ unpack_document('cached.data') }}
                from {{ caches[entity_type] }} as cached
                where cached.{{ cache_lookup_column() }} = {{ alias }}.cache_lookup
            )
        {%- endfor %}
    end
{%- endmacro %}

{#
    Pre-hook of a documented model: the columns a cache built by an earlier
    version lacks, added empty; where a document needs the new column
    (backend_deleted), every fingerprint of that cache cleared, so that each
    row is rebuilt in this run and fills it. dbt-sqlite's
    incremental materialization ignores on_schema_change, which PostgreSQL's
    honours.
#}
{% macro add_document_cache_columns() -%}
    {{ return(adapter.dispatch('add_document_cache_columns')()) }}
{%- endmacro %}

{% macro default__add_document_cache_columns() -%}
    {%- set existing = load_relation(this) if execute else none -%}
    {%- if existing is not none -%}
        alter table {{ existing }} add column if not exists built_in integer
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{% macro sqlite__add_document_cache_columns() -%}
    {%- set existing = load_relation(this) if execute else none -%}
    {%- set names = [] -%}
    {%- if existing is not none -%}
        {%- for column in adapter.get_columns_in_relation(existing) -%}
            {%- do names.append(column.name | lower) -%}
        {%- endfor -%}
    {%- endif -%}
    {#- built_in: rows of an older cache have none, and are as the last
        merge left them. -#}
    {%- if existing is not none and 'built_in' not in names -%}
        {%- do run_query('alter table ' ~ existing ~ ' add column built_in integer') -%}
    {%- endif -%}
    {%- if existing is not none and 'backend_deleted' not in names -%}
        {%- do run_query('alter table ' ~ existing ~ ' add column backend_deleted integer') -%}
        update {{ existing }} set source_fingerprint = null
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
