{#
    Why this materialization exists: sync_data belongs to the API. dbt-sqlite's
    incremental materialization deletes then re-inserts every selected key,
    ignores incremental_strategy, cannot take a list unique_key and drops the
    table on --full-refresh. Here the model's rows are merged into the
    existing table, in one transaction, set-based:
    - a key that is not there yet is inserted with version 1 and a new id;
    - a key whose checksum differs gets the new data, checksum, version + 1;
    - a key with the same checksum is not written at all;
    - every other row (other entity types, other users) is left as it was.
    The table is created with the API's DDL when it does not exist, and is
    never dropped, recreated or emptied, --full-refresh included.
#}
{% materialization sync_upsert, default -%}
    {%- set key_columns = config.require('unique_key') -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = load_relation(this) -%}
    {%- set incoming = sync_upsert_incoming_relation() -%}

    {%- if should_full_refresh() -%}
        {{ log("sync_upsert: --full-refresh ignored; " ~ target_relation
            ~ " is merged into, never rebuilt.", info=True) }}
    {%- endif -%}

    {% call statement('lock_timeout', auto_begin=False) -%}
        {{ sync_upsert_lock_timeout(var('busy_timeout_ms', 10000) | int) }}
    {%- endcall %}
    {% call statement('drop_incoming', auto_begin=False) -%}
        drop table if exists {{ incoming }}
    {%- endcall %}
    {% call statement('stage_incoming', auto_begin=False) -%}
        {{ sync_upsert_classify_sql(sql, existing_relation, key_columns) }}
    {%- endcall %}

    {% do check_reject_threshold(incoming) %}

    {#- A dry run stops here: the plan is reported, nothing is written. #}
    {%- if var('dry_run', false) -%}
        {% call statement('main') -%}
            select count(*) from {{ incoming }}
        {%- endcall %}
        {% do sync_dry_run_report(incoming) %}
        {{ return({'relations': [target_relation]}) }}
    {%- endif -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {%- if existing_relation is none -%}
        {% do create_sync_data_table(target_relation) %}
    {%- endif -%}

    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {% call statement('update_changed') -%}
        {{ sync_upsert_update_sql(incoming, target_relation, key_columns) }}
    {%- endcall %}
    {% call statement('main') -%}
        {{ sync_upsert_insert_sql(incoming, target_relation, key_columns) }}
    {%- endcall %}

    {#- The run history and the rejects are written in the same transaction. #}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do adapter.commit() %}

    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization %}

{# The temp table that holds this run's classified rows. #}
{% macro sync_upsert_incoming_relation() -%}
    {{ return(adapter.dispatch('sync_upsert_incoming_relation')()) }}
{%- endmacro %}

{% macro sqlite__sync_upsert_incoming_relation() -%}
    {{ return(api.Relation.create(identifier='sync_data__incoming', schema='temp', type='table')) }}
{%- endmacro %}

{#
    How long a write waits for another writer's lock before it fails, in ms
    (var busy_timeout_ms).
#}
{% macro sync_upsert_lock_timeout(milliseconds) -%}
    {{ return(adapter.dispatch('sync_upsert_lock_timeout')(milliseconds)) }}
{%- endmacro %}

{% macro sqlite__sync_upsert_lock_timeout(milliseconds) -%}
    pragma busy_timeout = {{ milliseconds }}
{%- endmacro %}

{#
    The model's rows, each with the action the merge takes: insert, update,
    unchanged, or rejected (a row with a reject_reason is never merged).
    Kept in a temp table, which a plain SQLite client never sees and which
    vanishes with the connection; only the rows to be written keep their
    document, so a run where little changed copies little. With no target
    table yet (a fresh dev database), every migratable row is an insert.
#}
{% macro sync_upsert_classify_sql(model_sql, existing_relation, key_columns) -%}
    create temp table {{ sync_upsert_incoming_relation().identifier }} as
    select
        classified.user_id,
        classified.entity_type,
        classified.entity_id,
        classified.entity_key,
        classified.reject_reason,
        classified.reject_value,
        classified.checksum,
        case
            when classified.sync_action in ('insert', 'update')
                then classified.data
        end as data,
        classified.sync_action
    from (
        select
            incoming.*,
            case
                when incoming.reject_reason is not null then 'rejected'
                when existing.checksum is null then 'insert'
                when existing.checksum = incoming.checksum then 'unchanged'
                else 'update'
            end as sync_action
        from ({{ model_sql }}) as incoming
        {%- if existing_relation is none %}
        left join (
            select
                {% for column in key_columns -%}
                cast(null as text) as {{ column }},
                {% endfor -%}
                cast(null as text) as checksum
            where false
        ) as existing
        {%- else %}
        left join {{ existing_relation }} as existing
        {%- endif %}
            on
            incoming.reject_reason is null
            {% for column in key_columns -%}
                and existing.{{ column }} = incoming.{{ column }}
            {% endfor %}
    ) as classified
{%- endmacro %}

{% macro sync_upsert_update_sql(incoming, target_relation, key_columns) -%}
    update {{ target_relation }}
    set
        data = changed.data,
        checksum = changed.checksum,
        version = coalesce({{ target_relation.identifier }}.version, 1) + 1,
        updated_at = {{ now_timestamp() }}
    from {{ incoming }} as changed
    where
        changed.sync_action = 'update'
        {% for column in key_columns -%}
            and {{ target_relation.identifier }}.{{ column }} = changed.{{ column }}
        {% endfor %}
{%- endmacro %}

{% macro sync_upsert_insert_sql(incoming, target_relation, key_columns) -%}
    {%- set run_ms = (run_started_at.timestamp() * 1000) | int -%}
    insert into {{ target_relation }} (
        id, user_id, entity_type, entity_id, data, checksum, version,
        created_at, updated_at
    )
    select
        'sync_{{ run_ms }}_' || {{ base36('new_rows.seq') }},
        new_rows.user_id,
        new_rows.entity_type,
        new_rows.entity_id,
        new_rows.data,
        new_rows.checksum,
        1,
        {{ now_timestamp() }},
        {{ now_timestamp() }}
    from (
        select
            pending.*,
            row_number() over (
                order by pending.user_id, pending.entity_type, pending.entity_id
            ) - 1 as seq
        from {{ incoming }} as pending
        where pending.sync_action = 'insert'
    ) as new_rows
{%- endmacro %}

{% macro postgres__sync_upsert_incoming_relation() -%}
    {{ return(api.Relation.create(identifier='sync_data__incoming', schema='pg_temp', type='table')) }}
{%- endmacro %}

{#- `set local`: for the merge's own transaction only, not the session. -#}
{% macro postgres__sync_upsert_lock_timeout(milliseconds) -%}
    set local lock_timeout = {{ milliseconds }}
{%- endmacro %}
