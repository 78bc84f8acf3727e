{#
    The merge's plan (contract, "Which rows the migration may change"): for
    every key of the run's scope that a backend row or the ownership ledger
    names, the backend's state (S), the sync_data row (A) and the ledger's
    entry (L) side by side, and the one action the contract's table gives.
    Built in two temp tables, in the merge's transaction after the write lock
    (or with no lock at all in a dry run):
    - sync_data__compared: S, A and L of each key. Backend rows first, then
      the ledger's keys no backend row names any more (hard deletes);
    - sync_data__incoming: each key with its action, conflict, ledger update
      and, when sync_data has `seq`, the sequence number its write takes.
    Documents are kept only where a write or a conflict may need them, so a
    run where little changed copies little.
    Arguments:
    - model_sql: the sync_data model's compiled SQL (the run's candidates)
    - existing_relation: sync_data, or none when it does not exist yet
    - features: what the target database has (sync_data_features)
#}
{% macro build_merge_plan(model_sql, existing_relation, features) -%}
    {%- set compared = sync_merge_temp_relation('sync_data__compared') -%}
    {%- set incoming = sync_upsert_incoming_relation() -%}
    {%- set ledger = migration_ledger_relation() -%}
    {%- set api_rows = existing_relation if existing_relation is not none else '(' ~ empty_sync_data_sql() ~ ')' -%}
    {%- set owned_rows = ledger if features.ledger else '(' ~ empty_ledger_sql() ~ ')' -%}
    {% for name in ['sync_data__compared', 'sync_data__incoming'] %}
        {% call statement('drop_' ~ name) -%}
            drop table if exists {{ sync_merge_temp_relation(name) }}
        {%- endcall %}
    {% endfor %}
    {% call statement('compare_backend_rows') -%}
        create temp table {{ compared.identifier }} as
        select
            documents.user_id,
            documents.entity_type,
            documents.entity_id,
            documents.entity_key,
            documents.reject_reason,
            documents.reject_value,
            case
                when documents.reject_reason is not null then 'rejected'
                when documents.backend_deleted = 1 then 'deleted'
                else 'live'
            end as backend_state,
            documents.checksum as backend_checksum,
            case
                when api.id is null or api.checksum <> documents.checksum
                    then documents.data
            end as backend_data,
            api.id as api_id,
            api.checksum as api_checksum,
            case
                when api.id is null then null
                when api.deleted_at is null then 0
                else 1
            end as api_deleted,
            case
                when api.checksum <> coalesce(documents.checksum, '') then api.data
            end as api_data,
            case when owned.entity_id is null then 0 else 1 end as owned,
            owned.checksum as ledger_checksum,
            owned.backend_deleted as ledger_deleted
        from ({{ model_sql }}) as documents
        left join {{ api_rows }} as api
            on
                documents.reject_reason is null
                and api.user_id = documents.user_id
                and api.entity_type = documents.entity_type
                and api.entity_id = documents.entity_id
        left join {{ owned_rows }} as owned
            on
                documents.reject_reason is null
                and owned.user_id = documents.user_id
                and owned.entity_type = documents.entity_type
                and owned.entity_id = documents.entity_id
    {%- endcall %}
    {% call statement('index_compared') -%}
        create index sync_data__compared_key
        on {{ compared.identifier }} (user_id, entity_type, entity_id)
    {%- endcall %}
    {#- A key the ledger owns whose backend row is gone (hard-deleted, or
        moved to another user): no backend row of the scope names it. -#}
    {% call statement('compare_gone_rows') -%}
        insert into {{ compared }} (
            user_id, entity_type, entity_id, backend_state, api_id,
            api_checksum, api_deleted, api_data, owned, ledger_checksum,
            ledger_deleted
        )
        select
            owned.user_id,
            owned.entity_type,
            owned.entity_id,
            'gone',
            api.id,
            api.checksum,
            case
                when api.id is null then null
                when api.deleted_at is null then 0
                else 1
            end,
            api.data,
            1,
            owned.checksum,
            owned.backend_deleted
        from {{ owned_rows }} as owned
        left join {{ api_rows }} as api
            on
                api.user_id = owned.user_id
                and api.entity_type = owned.entity_type
                and api.entity_id = owned.entity_id
        where
            {{ run_scope_where('owned') }}
            and not exists (
                select 1
                from {{ compared }} as backend
                where
                    backend.user_id = owned.user_id
                    and backend.entity_type = owned.entity_type
                    and backend.entity_id = owned.entity_id
            )
    {%- endcall %}
    {% call statement('classify') -%}
        create temp table {{ incoming.identifier }} as
        {{ merge_plan_classified_sql(compared, features) }}
    {%- endcall %}
    {% call statement('drop_compared') -%}
        drop table {{ compared }}
    {%- endcall %}
{%- endmacro %}

{# A sync_data stand-in with no rows, for a dry run on a fresh database. #}
{% macro empty_sync_data_sql() -%}
    select
        cast(null as text) as id,
        cast(null as text) as user_id,
        cast(null as text) as entity_type,
        cast(null as text) as entity_id,
        cast(null as text) as data,
        cast(null as text) as checksum,
        cast(null as text) as deleted_at
    where 1 = 0
{%- endmacro %}

{# A ledger stand-in with no rows, for a database that has none yet. #}
{% macro empty_ledger_sql() -%}
    select
        cast(null as text) as user_id,
        cast(null as text) as entity_type,
        cast(null as text) as entity_id,
        cast(null as text) as checksum,
        cast(null as integer) as backend_deleted
    where 1 = 0
{%- endmacro %}

{#
    The run's conflict policy (var on_conflict): backend_wins (the default)
    writes the backend's document, api_wins keeps the API's. Either way the
    conflict is recorded in migration_conflicts.
#}
{% macro on_conflict_policy() -%}
    {%- set policy = var('on_conflict', 'backend_wins') -%}
    {%- if policy not in ['backend_wins', 'api_wins'] -%}
        {{ exceptions.raise_compiler_error(
            "var on_conflict is '" ~ policy ~ "'; use backend_wins (the default: the "
            ~ "backend's document is written) or api_wins (the API's edit is kept). "
            ~ "Nothing was migrated.") }}
    {%- endif -%}
    {{ return(policy) }}
{%- endmacro %}
