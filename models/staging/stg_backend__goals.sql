{{
    config(
        materialized='incremental',
        unique_key='reject_key',
        tags=['goal'],
        meta={'entity_type': 'goal'},
        pre_hook="{{ forget_deleted_source_rows('goals', 'goal') }}",
        post_hook="{{ index_staging_cache() }}",
    )
}}

{%- set source_columns = [
    'id',
    'user_id',
    'title',
    'description',
    'target_date',
    'progress',
    'milestones',
    'status',
    'linked_entries',
    'created_at',
    'updated_at',
    'completed_at',
] -%}
{%- set json_columns = ['milestones', 'linked_entries'] -%}

{#
    The transformation, source row to document, is set apart first because
    its text is part of every row's fingerprint: the documents cached by
    earlier runs are reused only while the source row and this SQL are
    unchanged (macros/staging_cache/).
#}
{%- set transformation %}


checked as materialized (
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
            reject_blob(source_columns),
        ]) }} as reject_reason
    from changed
),

parsed as (
    select
        checked.*,
        case
            when reject_reason is null then {{ js_parse('milestones') }}
        end
        as milestones_json,
        case
            when reject_reason is null then {{ js_parse('linked_entries') }}
        end
        as linked_entries_json
    from checked
),

documented as materialized (
    select
        'goal' as entity_type,
        cast(id as text) as entity_id,
        cast(user_id as text) as user_id,
        row_key as reject_key,
        source_fingerprint,
        reject_reason,
        {{ reject_value('reject_reason', source_columns) }} as reject_value,
        case
            when reject_reason is null
                then '{"id":' || {{ js_value('id') }}
                || ',"title":' || {{ js_value('title') }}
                || ',"description":' || {{ js_optional('description') }}
                || ',"targetDate":' || {{ js_optional_iso('target_date') }}
                || ',"progress":'
                || {{ js_value_or('progress', '0') }}
                || ',"milestones":' || milestones_json
                || ',"status":' || {{ js_optional('status', '"ACTIVE"') }}
                || ',"linkedEntries":' || linked_entries_json
                || ',"createdAt":' || {{ js_string(iso_from_unix_ms('created_at')) }}
                || ',"updatedAt":' || {{ js_string(iso_from_unix_ms('updated_at')) }}
                || ',"completedAt":' || {{ js_optional_iso('completed_at') }}
                || '}'
        end as data
    from parsed
),

{#
    Explicit types, so that the work table declares its columns (an
    undeclared SQLite column reads as UNKNOWN, and dbt unit tests cast
    expected values to the type they read).
#}
final as (
    select
        cast(entity_type as text) as entity_type,
        cast(entity_id as text) as entity_id,
        cast(user_id as text) as user_id,
        cast(data as text) as data,
        cast({{ sha256_hex('data') }} as text) as checksum,
        cast(reject_key as text) as reject_key,
        cast(reject_reason as text) as reject_reason,
        cast(reject_value as text) as reject_value,
        cast(source_fingerprint as text) as source_fingerprint
    from documented
)
{%- endset %}

with

source as (
    select * from {{ source('backend', 'goals') }}
    where {{ in_run_scope('goal') }}
),

{{ staging_cache_ctes('source', source_columns, transformation) }},

{{ transformation }}

select * from final
