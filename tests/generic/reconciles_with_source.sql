{#
    Reconciliation of sync_data with the run's candidate rows (`documents`,
    the intermediate model): within the run's scope (user and entity-type
    filters), every candidate is either in sync_data with the checksum the
    staging model computed, or rejected. Each failing row says which way it
    fails. A sync_data row with no candidate is not a failure: the API writes
    rows of the same entity types (rows_without_source reports them).
#}
{% test reconciles_with_source(model, documents) %}

{#- A dry run writes nothing, so sync_data is not expected to match. -#}
{%- if var('dry_run', false) -%}
select null as entity_type where false
{%- else -%}
with

documents as (
    select * from {{ documents }}
),

synced as (
    select * from {{ model }} as in_scope
    where {{ run_scope_where('in_scope') }}
),

missing_or_stale as (
    select
        documents.entity_type,
        documents.entity_id,
        documents.user_id,
        case
            when synced.entity_id is null then 'missing from sync_data'
            else 'checksum differs from staging'
        end as problem
    from documents
    left join synced
        on
            documents.user_id = synced.user_id
            and documents.entity_type = synced.entity_type
            and documents.entity_id = synced.entity_id
    where
        documents.reject_reason is null
        and synced.checksum is distinct from documents.checksum
)

select * from missing_or_stale
{%- endif %}

{% endtest %}
