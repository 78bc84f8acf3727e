{{
    config(
        unique_key='entity_key',
        tags=['goal'],
        meta={'entity_type': 'goal'},
        on_schema_change='append_new_columns',
        pre_hook=[
            "{{ add_document_cache_columns() }}",
            "{{ create_merge_work_tables() }}",
        ],
        post_hook=[
            "{{ index_document_cache() }}",
            "{{ forget_gone_documents('goals') }}",
        ],
    )
}}

{%- set json_columns = ['milestones', 'linked_entries'] -%}

with

goals as (
    select * from {{ ref('stg_backend__goals') }}
),

{%- set checks %}

checked as {{ checked_materialization() }}(
    select
        changed.*,
        {{ first_broken_rule([
            reject_missing_id(),
            reject_invalid_json(json_columns),
            reject_wrong_json_kind(json_columns, 'array'),
            reject_missing_timestamp(['created_at', 'updated_at']),
            reject_timestamp_not_number(['created_at', 'updated_at']),
            reject_timestamp_not_number(
                ['target_date', 'completed_at'], allow_empty=true,
            ),
            reject_timestamp_out_of_range(
                ['target_date', 'created_at', 'updated_at', 'completed_at'],
            ),
            reject_blob(backend_columns('goals')),
        ]) }} as reject_reason
    from changed
)
{%- endset %}

{%- set document %}
'{"id":' || {{ js_value('id') }}
|| ',"title":' || {{ js_value('title') }}
|| ',"description":' || {{ js_optional('description') }}
|| ',"targetDate":' || {{ js_optional_iso('target_date') }}
|| ',"progress":'
|| {{ js_value_or('progress', '0') }}
|| ',"milestones":' || {{ js_parse('milestones') }}
|| ',"status":' || {{ js_optional('status', '"ACTIVE"') }}
|| ',"linkedEntries":' || {{ js_parse('linked_entries') }}
|| ',"createdAt":'
|| {{ js_string(iso_from_unix_ms('created_at')) }}
|| ',"updatedAt":'
|| {{ js_string(iso_from_unix_ms('updated_at')) }}
|| ',"completedAt":' || {{ js_optional_iso('completed_at') }}
|| '}'
{%- endset %}

{{ document_cache_ctes('goals', 'goal', checks, document) }}

{#- built_in stays out of the fingerprinted CTEs: it differs every run. #}
select
    final.*,
    cast(
        {{ next_cache_build('goal', is_incremental()) }} as integer
    ) as built_in
from final
