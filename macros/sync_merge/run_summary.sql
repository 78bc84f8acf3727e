{#
    on-run-end: what the run did, in the console (so in the weekly log), in
    lines an operator reads without SQL: per entity type the counts from
    migration_runs; per reject category the count and the first ids with
    their reasons, as the old script logged every bad record; and the
    sync_data rows of the run's scope that no backend row explains (rows the
    API wrote), which are reported, never an error.
#}
{% macro print_run_summary() -%}
    {%- if not execute or flags.WHICH not in ['run', 'build'] or var('dry_run', false) -%}
        {{ return('') }}
    {%- endif -%}
    {#- Read the catalog, not dbt's relation cache: on a fresh database the
        cache still says migration_runs does not exist. -#}
    {%- set tables = run_query(table_names_sql()).columns[0].values() | list -%}
    {%- if 'migration_runs' not in tables -%}{{ return('') }}{%- endif -%}
    {#- the old script's migration_runs has no run_id: a query would fail the run's end -#}
    {%- if run_history_shape_problems(['migration_runs']) -%}{{ return('') }}{%- endif -%}
    {%- set rows = run_query(
        "select entity_type, status, processed_count, inserted_count, updated_count,"
        ~ " tombstoned_count, revived_count, skipped_count, kept_for_api_count,"
        ~ " conflict_count, adopted_count, error_count, error_message"
        ~ " from " ~ target.schema ~ ".migration_runs"
        ~ " where run_id = " ~ sql_string(invocation_id) ~ " order by entity_type"
    ) -%}
    {%- for row in rows -%}
        {{ log(
            "migration " ~ row['entity_type'] ~ ": " ~ row['status']
            ~ " processed=" ~ row['processed_count']
            ~ " inserted=" ~ row['inserted_count']
            ~ " updated=" ~ row['updated_count']
            ~ " unchanged=" ~ row['skipped_count']
            ~ " rejected=" ~ row['error_count']
            ~ " tombstoned=" ~ row['tombstoned_count']
            ~ " revived=" ~ row['revived_count']
            ~ " kept_for_api=" ~ row['kept_for_api_count']
            ~ " conflicts=" ~ row['conflict_count']
            ~ " adopted=" ~ row['adopted_count']
            ~ (" error=" ~ row['error_message'] if row['error_message'] else ""),
            info=True
        ) }}
    {%- endfor -%}
    {#- Only after a merge that committed: a failed run may have failed on a
        lock that another writer still holds on sync_data, and reading it
        now would wait for that writer. -#}
    {%- set merged = rows | length > 0
        and rows | map(attribute='status') | reject('equalto', 'success') | list | length == 0 -%}
    {%- if merged and 'migration_rejects' in tables -%}
        {% do print_rejects_summary() %}
    {%- endif -%}
    {%- if merged and 'sync_data' in tables -%}
        {% do print_rows_without_source(tables) %}
    {%- endif -%}
    {%- if merged and 'migration_conflicts' in tables -%}
        {% do print_conflicts_summary() %}
    {%- endif -%}
{%- endmacro %}

{# How many ids each summary line lists before "...". #}
{% macro summary_sample_size() -%}
    {{ return(5) }}
{%- endmacro %}

{# Per entity type and reject category: the count and the first rows. #}
{% macro print_rejects_summary() -%}
    {%- set sample = run_query(rejects_summary_sql()) -%}
    {%- for row in sample -%}
        {%- if row['position'] == 1 -%}
            {{ log("rejected " ~ row['entity_type'] ~ " " ~ row['category'] ~ ": "
                ~ row['total'] ~ " row(s), left out of sync_data and kept in migration_rejects",
                info=True) }}
        {%- endif -%}
        {{ log("    " ~ (row['entity_id'] if row['entity_id'] is not none else row['entity_key'])
            ~ " (user " ~ row['user_id'] ~ "): " ~ row['reason'], info=True) }}
        {%- if row['position'] == row['total'] or row['position'] == summary_sample_size() -%}
            {%- if row['total'] > row['position'] -%}
                {{ log("    ... and " ~ (row['total'] - row['position']) ~ " more: "
                    ~ "select * from migration_rejects", info=True) }}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}

{% macro rejects_summary_sql() -%}
    select
        entity_type,
        category,
        entity_key,
        entity_id,
        user_id,
        reason,
        total,
        position
    from (
        select
            categorised.*,
            count(*) over (
                partition by categorised.entity_type, categorised.category
            ) as total,
            row_number() over (
                partition by categorised.entity_type, categorised.category
                order by categorised.entity_key
            ) as position
        from (
            select
                rejects.*,
                substr(
                    rejects.reason, 1,
                    {{ text_position('rejects.reason', "':'") }} - 1
                ) as category
            from {{ target.schema }}.migration_rejects as rejects
            where {{ run_scope_where('rejects') }}
        ) as categorised
    ) as ranked
    where position <= {{ summary_sample_size() }}
    order by entity_type, category, position
{%- endmacro %}

{#
    Per entity type: the sync_data rows of the run's scope whose key names no
    backend row. The API wrote them (devices push logbook entries and goals
    straight into sync_data); the migration leaves them as they are.
#}
{% macro print_rows_without_source(tables) -%}
    {%- set entity_tables = migration_entity_tables() -%}
    {%- for entity_type in sync_entity_types() if entity_tables[entity_type] not in tables -%}
        {{ return('') }}
    {%- endfor -%}
    {%- set sample = run_query(rows_without_source_sql(tables)) -%}
    {%- for row in sample -%}
        {%- if row['position'] == 1 -%}
            {{ log("api rows " ~ row['entity_type'] ~ ": " ~ row['total']
                ~ " sync_data row(s) without a backend row or an entry in the ownership "
                ~ "ledger (written by the API; left as they are, not an error)", info=True) }}
        {%- endif -%}
        {{ log("    " ~ row['entity_id'] ~ " (user " ~ row['user_id'] ~ ")", info=True) }}
        {%- if row['position'] == summary_sample_size() and row['total'] > row['position'] -%}
            {{ log("    ... and " ~ (row['total'] - row['position']) ~ " more", info=True) }}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}

{% macro rows_without_source_sql(tables) -%}
    {%- set entity_tables = migration_entity_tables() -%}
    select
        entity_type,
        entity_id,
        user_id,
        total,
        position
    from (
        select
            synced.entity_type,
            synced.entity_id,
            synced.user_id,
            count(*) over (partition by synced.entity_type) as total,
            row_number() over (
                partition by synced.entity_type
                order by synced.user_id, synced.entity_id
            ) as position
        from {{ target.schema }}.sync_data as synced
        where
            {{ run_scope_where('synced') }}
            {#- the ledger first: it names almost every row, and SQLite tries
                the conditions in the order written -#}
            {%- if migration_ledger_relation().identifier in tables %}
            and not exists (
                select 1
                from {{ migration_ledger_relation() }} as owned
                where
                    owned.user_id = synced.user_id
                    and owned.entity_type = synced.entity_type
                    and owned.entity_id = synced.entity_id
            )
            {%- endif %}
            {%- for entity_type in sync_entity_types() %}
            and not exists (
                select 1
                from {{ target.schema }}.{{ entity_tables[entity_type] }} as backend
                where
                    synced.entity_type = {{ sql_string(entity_type) }}
                    and backend.id = synced.entity_id
                    and backend.user_id = synced.user_id
            )
            {%- endfor %}
    ) as ranked
    where position <= {{ summary_sample_size() }}
    order by entity_type, position
{%- endmacro %}

{# This run's conflicts: per entity type and kind, the count and the first keys. #}
{% macro print_conflicts_summary() -%}
    {%- set sample = run_query(
        "select entity_type, kind, resolution, entity_id, user_id, total, position from ("
        ~ " select met.*, count(*) over (partition by entity_type, kind) as total,"
        ~ " row_number() over (partition by entity_type, kind order by user_id, entity_id) as position"
        ~ " from " ~ target.schema ~ ".migration_conflicts as met"
        ~ " where last_run_id = " ~ sql_string(invocation_id) ~ ") as ranked"
        ~ " where position <= " ~ summary_sample_size() ~ " order by entity_type, kind, position"
    ) -%}
    {%- for row in sample -%}
        {%- if row['position'] == 1 -%}
            {{ log("conflict " ~ row['entity_type'] ~ " " ~ row['kind'] ~ ": " ~ row['total']
                ~ " row(s), settled " ~ row['resolution'] ~ "; the losing document is kept in "
                ~ "migration_conflicts", info=True) }}
        {%- endif -%}
        {{ log("    " ~ row['entity_id'] ~ " (user " ~ row['user_id'] ~ ")", info=True) }}
        {%- if row['position'] == summary_sample_size() and row['total'] > row['position'] -%}
            {{ log("    ... and " ~ (row['total'] - row['position']) ~ " more", info=True) }}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}
