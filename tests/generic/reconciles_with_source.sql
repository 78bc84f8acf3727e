{#
    Reconciliation of sync_data with the run's candidate rows (`documents`,
    the intermediate model), within the run's scope (user and entity-type
    filters), judging only what the migration owns (contract, "Which rows
    the migration may change"). A failing row says which way it fails:
    - a live backend row with no sync_data row at all: missing;
    - a row the migration owns, still as it left it (checksum and deleted
      state as in the ledger), that the backend has changed since: stale;
    - such a row whose backend row is deleted, or gone, while it is live:
      not tombstoned.
    A row the API changed since the migration wrote it, a conflict kept for
    the API, a rejected backend row, and a row the API wrote itself are not
    failures (rows_without_source reports the API's rows).
#}
{% test reconciles_with_source(model, documents) %}

{#- Outside the condition below: dbt keeps its parse of the project across
    runs with other vars (scripts/dbt_launcher.py), so no ref may depend on
    a var. -#}
{%- set ledger = ref('stg_api__migration_ledger') -%}
{#- A dry run writes nothing, so sync_data is not expected to match. -#}
{%- if var('dry_run', false) -%}
select null as entity_type where false
{%- else -%}
with

documents as (
    select * from {{ documents }}
    where reject_reason is null
),

synced as (
    select * from {{ model }} as in_scope
    where {{ run_scope_where('in_scope') }}
),

owned as (
    select * from {{ ledger }}
),

missing as (
    select
        documents.entity_type,
        documents.entity_id,
        documents.user_id,
        'missing from sync_data' as problem
    from documents
    left join synced
        on
            documents.user_id = synced.user_id
            and documents.entity_type = synced.entity_type
            and documents.entity_id = synced.entity_id
    where documents.backend_deleted = 0 and synced.entity_id is null
),

as_left as (
    select
        synced.entity_type,
        synced.entity_id,
        synced.user_id,
        owned.checksum as owned_checksum,
        owned.backend_deleted as owned_deleted
    from synced
    inner join owned
        on
            synced.user_id = owned.user_id
            and synced.entity_type = owned.entity_type
            and synced.entity_id = owned.entity_id
    where
        synced.checksum = owned.checksum
        and case when synced.deleted_at is null then 0 else 1 end = owned.backend_deleted
),

behind_the_backend as (
    select
        as_left.entity_type,
        as_left.entity_id,
        as_left.user_id,
        case
            when documents.backend_deleted = 0 and as_left.owned_deleted = 1
                then 'tombstoned, but the backend row is live'
            when documents.backend_deleted = 0 then 'checksum differs from the backend'
            else 'live, but the backend row is deleted'
        end as problem
    from as_left
    left join documents
        on
            as_left.user_id = documents.user_id
            and as_left.entity_type = documents.entity_type
            and as_left.entity_id = documents.entity_id
    left join {{ documents }} as rejected
        on
            as_left.user_id = rejected.user_id
            and as_left.entity_type = rejected.entity_type
            and as_left.entity_id = rejected.entity_id
            and rejected.reject_reason is not null
    where
        rejected.entity_id is null
        and case
            when documents.entity_id is null or documents.backend_deleted = 1
                then as_left.owned_deleted = 0
            else as_left.owned_deleted = 1 or documents.checksum != as_left.owned_checksum
        end
),

final as (
    select * from missing
    union all
    select * from behind_the_backend
)

select * from final
{%- endif %}

{% endtest %}
