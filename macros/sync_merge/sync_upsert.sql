{#
    Why this materialization exists: sync_data belongs to the API. dbt-sqlite's
    incremental materialization deletes then re-inserts every selected key,
    ignores incremental_strategy, cannot take a list unique_key and drops the
    table on --full-refresh. Here, in one transaction: the write lock, then
    the model's SQL (the plan, int_merge__plan: one action per key under the
    contract's "Which rows the migration may change") into a temp table, then
    set-based writes of what it says: inserts, updates, tombstones and
    revivals, with a fresh seq each where the table has one; then the
    sequence; then the ledger, the conflicts and the rejects; then the run
    history. Rows the plan leaves alone
    keep every byte; rows nobody but the API wrote are never touched. The
    table is created with the API's DDL when it does not exist, and is never
    dropped, recreated or emptied, --full-refresh included.
#}
{% materialization sync_upsert, default -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = load_relation(this) -%}
    {%- set incoming = merge_plan_relation() -%}
    {%- set key = config.require('unique_key') -%}
    {%- do on_conflict_policy() -%}

    {%- if should_full_refresh() -%}
        {{ log("sync_upsert: --full-refresh ignored; " ~ target_relation
            ~ " is merged into, never rebuilt.", info=True) }}
    {%- endif -%}

    {% call statement('lock_timeout', auto_begin=False) -%}
        {{ merge_lock_timeout(var('busy_timeout_ms', 10000) | int) }}
    {%- endcall %}

    {#- A dry run plans without a lock and stops: nothing is written. #}
    {%- do merge_compare_mode() -%}
    {%- if var('dry_run', false) -%}
        {%- set features = sync_data_features(existing_relation) -%}
        {% do compute_merge_plan(sql) %}
        {% do check_reject_threshold(incoming) %}
        {% call statement('main') -%}
            select count(*) from {{ incoming }}
        {%- endcall %}
        {% do sync_dry_run_report(incoming, features) %}
        {% do report_document_diff(incoming, true) %}
        {{ return({'relations': [target_relation]}) }}
    {%- endif -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {%- if existing_relation is none -%}
        {% do create_sync_data_table(target_relation) %}
        {%- set existing_relation = target_relation -%}
    {%- endif -%}
    {% call statement('create_ledger') -%}
        {{ create_migration_ledger_table() }}
    {%- endcall %}
    {%- set features = sync_data_features(existing_relation) -%}

    {#- One transaction from here to the commit. 1. The write lock, so the
        plan is made from rows no other writer can change before the merge
        writes them, and sequence numbers are taken in that lock. -#}
    {% do take_merge_write_lock(features) %}
    {%- if features.seq -%}
        {% do ensure_sync_sequence() %}
    {%- endif -%}

    {#- 2. The plan: of every key, or with var compare: changed, of the keys
        that may have changed since the last run (merge_narrowing.sql). -#}
    {%- set marks = merge_cache_marks() if features.seq and features.sync_sequence else {} -%}
    {%- set full_because = 'var compare is all' -%}
    {%- if merge_compare_mode() == 'changed' -%}
        {%- set full_because = narrow_the_merge(features) -%}
        {%- if full_because is none -%}
            {{ log("compare: changed — comparing the keys that may have changed since the "
                ~ "last run; every other key is as that run left it.", info=True) }}
        {%- else -%}
            {{ log("compare: changed — comparing every key: " ~ full_because ~ ".", info=True) }}
        {%- endif -%}
    {%- endif -%}
    {% do compute_merge_plan(sql) %}
    {% do end_merge_narrowing() %}
    {% do check_reject_threshold(incoming) %}
    {#- Before the writes: a diff that cannot be written fails the run with
        nothing committed. -#}
    {% do report_document_diff(incoming, false) %}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {#- 3. sync_data. -#}
    {% call statement('update_changed') -%}
        {{ merge_update_sql(incoming, target_relation, features, key) }}
    {%- endcall %}
    {% call statement('main') -%}
        {{ merge_insert_sql(incoming, target_relation, features) }}
    {%- endcall %}

    {#- 4. The sequence. -#}
    {%- if features.seq -%}
        {% call statement('advance_sequence') -%}
            {{ advance_sync_sequence_sql(incoming) }}
        {%- endcall %}
    {%- endif -%}

    {#- 5. The migration's own tables. -#}
    {% call statement('record_ownership') -%}
        {{ record_ownership_sql(incoming) }}
    {%- endcall %}
    {#- After the entries: a first merge then builds the index from sorted
        keys, instead of inserting each entry into it in random order. -#}
    {% call statement('index_ledger') -%}
        {{ index_migration_ledger_by_entity() }}
    {%- endcall %}
    {% do record_migration_conflicts(incoming) %}
    {% do record_migration_rejects(incoming) %}

    {#- 6. The run history, and the state a narrowed run starts from. -#}
    {% do record_migration_runs(incoming) %}
    {% do record_merge_state(features, incoming, full_because is none, marks) %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do adapter.commit() %}

    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization %}

{# The temp table that holds this run's plan (compute_merge_plan). #}
{% macro merge_plan_relation() -%}
    {{ return(merge_temp_relation('sync_data__incoming')) }}
{%- endmacro %}

{#
    A temp table of the merge: a plain SQLite client never sees it, and it
    vanishes with the connection.
#}
{% macro merge_temp_relation(identifier) -%}
    {{ return(adapter.dispatch('merge_temp_relation')(identifier)) }}
{%- endmacro %}

{% macro sqlite__merge_temp_relation(identifier) -%}
    {{ return(api.Relation.create(identifier=identifier, schema='temp', type='table')) }}
{%- endmacro %}

{% macro postgres__merge_temp_relation(identifier) -%}
    {{ return(api.Relation.create(identifier=identifier, schema='pg_temp', type='table')) }}
{%- endmacro %}

{#
    How long a write waits for another writer's lock before it fails, in ms
    (var busy_timeout_ms).
#}
{% macro merge_lock_timeout(milliseconds) -%}
    {{ return(adapter.dispatch('merge_lock_timeout')(milliseconds)) }}
{%- endmacro %}

{% macro sqlite__merge_lock_timeout(milliseconds) -%}
    pragma busy_timeout = {{ milliseconds }}
{%- endmacro %}

{#- `set local`: for the merge's own transaction only, not the session. -#}
{% macro postgres__merge_lock_timeout(milliseconds) -%}
    set local lock_timeout = {{ milliseconds }}
{%- endmacro %}

{#
    Updates, revivals and tombstones, in one statement: the backend's
    document (a tombstone keeps the row's own), version + 1, updated_at now,
    deleted_at set by a tombstone only, and where the table has them a new
    seq and device_id NULL (the migration is not a device).
#}
{% macro merge_update_sql(incoming, target_relation, features, key) -%}
    {%- set row = target_relation.identifier -%}
    update {{ target_relation }}
    set
        data = case
            when changed.sync_action = 'tombstone' then {{ row }}.data
            else coalesce(changed.backend_data, {{ row }}.data)
        end,
        checksum = case
            when changed.sync_action = 'tombstone' then {{ row }}.checksum
            else changed.backend_checksum
        end,
        version = coalesce({{ row }}.version, 1) + 1,
        updated_at = {{ now_timestamp() }},
        deleted_at = case
            when changed.sync_action = 'tombstone' then {{ now_timestamp() }}
        end
        {%- if features.seq %},
        seq = {{ merge_new_seq('changed') }}
        {%- endif %}
        {%- if features.device_id %},
        device_id = null
        {%- endif %}
    from {{ incoming }} as changed
    where
        changed.sync_action in ('update', 'revive', 'tombstone')
        and {{ same_key(row, 'changed', key) }}
{%- endmacro %}

{% macro merge_insert_sql(incoming, target_relation, features) -%}
    {%- set run_ms = (run_started_at.timestamp() * 1000) | int -%}
    insert into {{ target_relation }} (
        id, user_id, entity_type, entity_id, data, checksum, version,
        created_at, updated_at
        {%- if features.seq %}, seq{% endif %}
        {%- if features.device_id %}, device_id{% endif %}
    )
    select
        'sync_{{ run_ms }}_' || {{ base36(merge_write_order('new_rows') ~ ' - 1') }},
        new_rows.user_id,
        new_rows.entity_type,
        new_rows.entity_id,
        {{ cached_document('new_rows') }},
        new_rows.backend_checksum,
        1,
        {{ now_timestamp() }},
        {{ now_timestamp() }}
        {%- if features.seq %},
        {{ merge_new_seq('new_rows') }}
        {%- endif %}
        {%- if features.device_id %},
        null
        {%- endif %}
    from {{ incoming }} as new_rows
    where new_rows.sync_action = 'insert'
{%- endmacro %}
