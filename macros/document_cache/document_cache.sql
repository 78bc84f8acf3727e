{#
    The staging models keep their documents between runs, in the work file
    (SQLite) or the work schema (PostgreSQL), so that a re-run transforms only
    the source rows that changed since.
    A cached document is reused when the source row's fingerprint is the one
    it was built from. The fingerprint covers every source column (quote()
    tells NULL, '', 5 and '5' apart) and the transformation's own compiled
    SQL, so a change to a model or a macro rebuilds every document. sync_data
    is still compared with every document's checksum on every run (see
    sync_upsert), so a row the API changed is never missed.
    On PostgreSQL the fingerprint also covers the SQL functions of
    install_js_functions. After an upgrade of SQLite's C extension
    (extensions/sqlite/js_json.c), which no SQL text shows, rebuild the cache:
    `dbt run --full-refresh --select staging`.
#}

{#
    The CTEs between a staging model's source rows and its transformation:
    `fingerprinted` (each source row with its row_key and fingerprint) and
    `changed` (the rows whose document must be built on this run).
    Arguments:
    - source_cte: the CTE holding the run's source rows.
    - columns: the source table's column names, all of them.
    - transformation: the model's transformation SQL (see source_fingerprint).
#}
{% macro staging_cache_ctes(source_cte, columns, transformation) -%}
fingerprinted as (
    select
        {{ source_cte }}.*,
        {{ reject_key('id', columns) }} as row_key,
        {{ source_fingerprint(columns, transformation) }}
        as source_fingerprint
    from {{ source_cte }}
),

changed as (
    select * from fingerprinted
    where {{ needs_transforming('fingerprinted') }}
)
{%- endmacro %}

{#
    Arguments:
    - columns: the source table's column names, all of them.
    - transformation: the compiled SQL that turns a source row into its
      document (any text that changes whenever the output can change).
#}
{% macro source_fingerprint(columns, transformation) -%}
    {{ sha256_hex(
        sql_string(local_md5(transformation ~ install_js_functions()))
        ~ " || ',' || " ~ literal_list(columns)
    ) }}
{%- endmacro %}

{#
    The where-clause that keeps the source rows whose document must be
    (re)built: all of them on a first or --full-refresh run, afterwards those
    with no cached document of the same fingerprint.
    Arguments:
    - relation: the CTE holding the source rows, with row_key (the
      reject_key they will have) and source_fingerprint.
#}
{% macro needs_transforming(relation) -%}
    {%- if is_incremental() -%}
        not exists (
            select 1
            from {{ this }} as cached
            where
                cached.reject_key = {{ relation }}.row_key
                and cached.source_fingerprint = {{ relation }}.source_fingerprint
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#
    Pre-hook of a staging model: forget the cached rows of the run's scope
    whose source row is gone, and the rows without an id (rejected rows
    keyed by their content; this run builds them again).
    Arguments:
    - source_table: the backend table's name.
    - entity_type: the model's entity type (for the run's scope).
#}
{% macro forget_deleted_source_rows(source_table, entity_type) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where
            {{ in_run_scope(entity_type) }}
            and (
                entity_id is null
                or not exists (
                    select 1
                    from {{ source('backend', source_table) }} as live
                    where
                        live.id = {{ this.identifier }}.entity_id
                        and {{ in_run_scope(entity_type, 'live.user_id') }}
                )
            )
    {%- endif -%}
{%- endmacro %}

{# Post-hook of a staging model: the index the cache lookup uses. #}
{% macro index_staging_cache() -%}
    {{ return(adapter.dispatch('index_staging_cache')()) }}
{%- endmacro %}

{% macro sqlite__index_staging_cache() -%}
    create index if not exists {{ this.schema }}.{{ this.identifier }}__cache
    on {{ this.identifier }} (reject_key, source_fingerprint)
{%- endmacro %}

{#-
    PostgreSQL: index names are per schema, and after --full-refresh the
    backup table still holds the old name until dbt drops it; so the index is
    unnamed and made only when the table has none on these columns.
-#}
{% macro postgres__index_staging_cache() -%}
    do $$
    begin
        if not exists (
            select 1
            from pg_indexes
            where
                schemaname = {{ sql_string(this.schema) }}
                and tablename = {{ sql_string(this.identifier) }}
                and indexdef like '%(reject_key, source_fingerprint)'
        ) then
            create index on {{ this }} (reject_key, source_fingerprint);
        end if;
    end
    $$
{%- endmacro %}
