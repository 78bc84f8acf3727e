{#
    The int_<table>_documented models keep their documents between runs, in
    the work file (SQLite) or the work schema (PostgreSQL), so that a re-run
    builds only the documents of the backend rows that changed since.
    A cached document is reused while the backend row's fingerprint is the
    one it was built from. The fingerprint (row_fingerprint) covers every
    backend column (NULL, '', 5 and '5' apart) and the compiled SQL of the
    document, so a change to a model or a macro rebuilds every document.
    sync_data is still compared with every document's checksum on every run
    (see sync_upsert), so a row the API changed is never missed.
    On PostgreSQL the fingerprint also covers the SQL functions of
    install_js_functions. After an upgrade of SQLite's C extension
    (extensions/sqlite/*.c), which no SQL text shows, rebuild the cache
    once: `dbt run --full-refresh --select intermediate`.
#}

{#
    A documented model's CTEs around its own two parts, the checks (CTEs
    that read `changed` and end in `checked`, with every backend column and
    reject_reason) and the document (the JSON text of a row that passes):
    - fingerprinted: each backend row with its entity_key and fingerprint;
    - changed: the rows whose document this run must build;
    - the checks;
    - documented: each checked row with its document, or none if rejected;
    - final: the cache row, typed, with the checksum and the rejected value.
    The text of everything after `changed` is part of every fingerprint.
    Arguments:
    - table_name: the backend table, also the name of the import CTE
    - entity_type: the entity type its rows become
    - checks: the model's checking CTEs, as compiled SQL text
    - document: the SQL expression of a row's document
#}
{% macro document_cache_ctes(table_name, entity_type, checks, document) -%}
    {%- set columns = backend_columns(table_name) -%}
    {#- Explicit types, so that the work table declares its columns (an
        undeclared SQLite column reads as UNKNOWN, and dbt unit tests cast
        expected values to the type they read). -#}
    {%- set documented -%}
documented as materialized (
    select
        checked.*,
        case
            when checked.reject_reason is null then {{ document }}
        end as data
    from checked
),

final as (
    select
        cast({{ sql_string(entity_type) }} as text) as entity_type,
        cast(id as text) as entity_id,
        cast(user_id as text) as user_id,
        cast(data as text) as data,
        cast({{ sha256_hex('data') }} as text) as checksum,
        cast(entity_key as text) as entity_key,
        cast(reject_reason as text) as reject_reason,
        cast({{ reject_value('reject_reason', columns) }} as text)
        as reject_value,
        cast(source_fingerprint as text) as source_fingerprint
    from documented
)
    {%- endset -%}
fingerprinted as (
    select
        {{ table_name }}.*,
        {{ entity_key('id', columns) }} as entity_key,
        {{ source_fingerprint(columns, checks ~ documented) }}
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
    A backend row's fingerprint: its values and the SQL that documents it.
    Arguments:
    - columns: the backend table's column names, all of them.
    - transformation: the compiled SQL that turns a backend row into its
      document (any text that changes whenever the output can change).
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
    Arguments:
    - relation: the CTE holding the backend rows, with entity_key and
      source_fingerprint.
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

{#
    The cached documents whose backend row is still there, in the run's
    scope, each with backend_deleted (1: the row is soft-deleted; its
    document is still built, the merge compares with it): a deleted row's
    document stays in the cache until the merge forgets it
    (forget_stale_documents), and must not be merged meanwhile.
    The live keys are grouped once (two equal rows without an id still match
    their one cached document once) and joined: the staging model is read
    once, so SQLite does not copy every backend column into a temp table,
    as it does for a CTE read twice.
    Arguments:
    - documents: the documented model (the cache)
    - staged: its staging model (the backend rows of the run's scope)
    - table_name: the backend table
#}
{% macro live_documents_sql(documents, staged, table_name) -%}
    {%- set live_columns = [] -%}
    {%- for column in backend_columns(table_name) -%}
        {%- do live_columns.append('live.' ~ column) -%}
    {%- endfor -%}
    select
        cached.*,
        live_keys.backend_deleted
    from {{ documents }} as cached
    inner join (
        select
            {{ entity_key('live.id', live_columns) }} as entity_key,
            max(live.is_deleted) as backend_deleted
        from {{ staged }} as live
        group by {{ entity_key('live.id', live_columns) }}
    ) as live_keys
        on cached.entity_key = live_keys.entity_key
{%- endmacro %}

{#
    In the merge's transaction, last: forget the cached documents of the
    run's scope whose backend row is gone (the plan's keys are every backend
    row of the scope, rejected ones too). An uncorrelated `not in`: the kept
    keys are read once into an index.
    Arguments:
    - incoming: the merge plan's temp table
#}
{% macro forget_stale_documents(incoming) -%}
    {%- for entity_type in sync_entity_types() -%}
        {%- set cache = documented_relation(entity_type) -%}
        {%- call statement('forget_stale_' ~ entity_type) -%}
            delete from {{ cache }}
            where
                {{ in_run_scope(entity_type, cache.identifier ~ '.user_id') }}
                and entity_key not in (
                    select kept.entity_key
                    from {{ incoming }} as kept
                    where
                        kept.entity_type = {{ sql_string(entity_type) }}
                        and kept.entity_key is not null
                )
        {%- endcall -%}
    {%- endfor -%}
{%- endmacro %}

{#
    The documented model (the cache) of an entity type, found in the graph:
    a hook that called ref() would add lineage the DAG should not show.
#}
{% macro documented_relation(entity_type) -%}
    {%- set name = 'int_' ~ migration_entity_tables()[entity_type] ~ '_documented' -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == name -%}
        {{ return(api.Relation.create(
            database=node.database, schema=node.schema, identifier=node.alias)) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("No model " ~ name ~ " for entity type " ~ entity_type) }}
{%- endmacro %}

{# Post-hook of a documented model: the index the cache lookup uses. #}
{% macro index_document_cache() -%}
    {{ return(adapter.dispatch('index_document_cache')()) }}
{%- endmacro %}

{% macro sqlite__index_document_cache() -%}
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
        if not exists (
            select 1
            from pg_indexes
            where
                schemaname = {{ sql_string(this.schema) }}
                and tablename = {{ sql_string(this.identifier) }}
                and indexdef like '%(entity_key, source_fingerprint)'
        ) then
            create index on {{ this }} (entity_key, source_fingerprint);
        end if;
    end
    $$
{%- endmacro %}
