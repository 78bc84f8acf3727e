{{ config(severity='warn', tags=['rejects']) }}

{#
    Rows of this run's scope that cannot be migrated (see migration_rejects):
    a warning, not a failure, so one bad row never stops the rest.
#}

select
    entity_type,
    entity_id,
    user_id,
    reject_reason
from {{ ref('int_sync_documents_unioned') }}
where reject_reason is not null
