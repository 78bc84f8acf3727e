{#
    The sync_data rows of the run's scope (entity types, user) that neither a
    backend row of this run nor the ownership ledger explains: rows devices
    pushed through the API; and rows whose backend row is rejected now (the
    merge leaves those as they are). They are the API's, never an error; configure it
    with severity warn, so they are counted and listed in the run's output.
#}
{% test rows_without_source(model, documents) %}

{%- if var('dry_run', false) -%}
select null as entity_type where false
{%- else -%}
{%- set ledger = migration_ledger_relation() -%}
with

documents as (
    select * from {{ documents }}
),

synced as (
    select * from {{ model }} as in_scope
    where {{ run_scope_where('in_scope') }}
),

final as (
    select
        synced.entity_type,
        synced.entity_id,
        synced.user_id,
        case
            when documents.entity_id is null then 'no backend row (the API wrote it)'
            else 'backend row rejected; left as it was'
        end as problem
    from synced
    left join documents
        on
            synced.user_id = documents.user_id
            and synced.entity_type = documents.entity_type
            and synced.entity_id = documents.entity_id
    where
        documents.reject_reason is not null
        or (
            documents.entity_id is null
            {%- if execute and load_relation(ledger) is not none %}
            and not exists (
                select 1
                from {{ ledger }} as owned
                where
                    owned.user_id = synced.user_id
                    and owned.entity_type = synced.entity_type
                    and owned.entity_id = synced.entity_id
            )
            {%- endif %}
        )
)

select * from final
{%- endif %}

{% endtest %}
