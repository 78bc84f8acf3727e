{{
    config(
        unique_key='entity_key',
        tags=['logbook_entry'],
        meta={'entity_type': 'logbook_entry'},
        on_schema_change='append_new_columns',
        pre_hook=[
            "{{ add_document_cache_columns() }}",
            "{{ create_merge_work_tables() }}",
        ],
        post_hook=[
            "{{ index_document_cache() }}",
            "{{ forget_gone_documents('logbook_entries') }}",
        ],
    )
}}

{%- set array_columns = ['pieces', 'techniques', 'goal_ids', 'tags'] -%}
{%- set timestamp_columns = ['timestamp', 'created_at', 'updated_at'] -%}

with

logbook_entries as (
    select * from {{ ref('stg_backend__logbook_entries') }}
),

{%- set checks %}

checked as {{ checked_materialization() }}(
    select
        changed.*,
        {{ first_broken_rule([
            reject_missing_id(),
            reject_invalid_json(array_columns + ['metadata']),
            reject_wrong_json_kind(array_columns, 'array'),
            reject_wrong_json_kind('metadata', 'object'),
            reject_missing_timestamp(timestamp_columns),
            reject_timestamp_not_number(timestamp_columns),
            reject_timestamp_out_of_range(timestamp_columns),
            reject_blob(backend_columns('logbook_entries')),
        ]) }} as reject_reason
    from changed
)
{%- endset %}

{%- set document %}
'{"id":' || {{ js_value('id') }}
|| ',"timestamp":'
|| {{ js_string(iso_from_unix_ms('timestamp')) }}
|| ',"duration":' || {{ js_value('duration') }}
|| ',"type":' || {{ js_value('type') }}
|| ',"instrument":' || {{ js_value('instrument') }}
|| ',"pieces":' || {{ js_parse('pieces') }}
|| ',"techniques":' || {{ js_parse('techniques') }}
|| ',"goalIds":' || {{ js_parse('goal_ids') }}
|| ',"notes":' || {{ js_optional('notes') }}
|| ',"mood":' || {{ js_optional('mood') }}
|| ',"tags":' || {{ js_parse('tags') }}
|| ',"sessionId":' || {{ js_optional('session_id') }}
|| ',"metadata":'
|| {{ js_parse('metadata', when_empty='{"source":"manual"}') }}
|| ',"createdAt":'
|| {{ js_string(iso_from_unix_ms('created_at')) }}
|| ',"updatedAt":'
|| {{ js_string(iso_from_unix_ms('updated_at')) }}
|| '}'
{%- endset %}

{{ document_cache_ctes('logbook_entries', 'logbook_entry', checks, document) }}

{#- built_in stays out of the fingerprinted CTEs: it differs every run. #}
select
    final.*,
    cast(
        {{ next_cache_build('logbook_entry', is_incremental()) }} as integer
    ) as built_in
from final
