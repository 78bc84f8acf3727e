{{
    config(
        materialized='incremental',
        unique_key='reject_key',
        tags=['logbook_entry'],
        meta={'entity_type': 'logbook_entry'},
        pre_hook="{{ forget_deleted_source_rows('logbook_entries', 'logbook_entry') }}",
        post_hook="{{ index_staging_cache() }}",
    )
}}

{%- set source_columns = [
    'id',
    'user_id',
    'timestamp',
    'duration',
    'type',
    'instrument',
    'pieces',
    'techniques',
    'goal_ids',
    'notes',
    'mood',
    'tags',
    'session_id',
    'metadata',
    'created_at',
    'updated_at',
] -%}
{%- set array_columns = ['pieces', 'techniques', 'goal_ids', 'tags'] -%}
{%- set timestamp_columns = ['timestamp', 'created_at', 'updated_at'] -%}

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
            reject_invalid_json(array_columns + ['metadata']),
            reject_wrong_json_kind(array_columns, 'array'),
            reject_wrong_json_kind('metadata', 'object'),
            reject_missing_timestamp(timestamp_columns),
            reject_timestamp_not_number(timestamp_columns),
            reject_timestamp_out_of_range(timestamp_columns),
            reject_blob(source_columns),
        ]) }} as reject_reason
    from changed
),

parsed as (
    select
        checked.*,
        case
            when reject_reason is null then {{ js_parse('pieces') }}
        end
        as pieces_json,
        case
            when reject_reason is null then {{ js_parse('techniques') }}
        end
        as techniques_json,
        case
            when reject_reason is null then {{ js_parse('goal_ids') }}
        end
        as goal_ids_json,
        case
            when reject_reason is null then {{ js_parse('tags') }}
        end
        as tags_json,
        case
            when reject_reason is null then {{ js_parse('metadata', when_empty='{"source":"manual"}') }}
        end
        as metadata_json
    from checked
),

documented as materialized (
    select
        'logbook_entry' as entity_type,
        cast(id as text) as entity_id,
        cast(user_id as text) as user_id,
        row_key as reject_key,
        source_fingerprint,
        reject_reason,
        {{ reject_value('reject_reason', source_columns) }} as reject_value,
        case
            when reject_reason is null
                then '{"id":' || {{ js_value('id') }}
                || ',"timestamp":' || {{ js_string(iso_from_unix_ms('timestamp')) }}
                || ',"duration":' || {{ js_value('duration') }}
                || ',"type":' || {{ js_value('type') }}
                || ',"instrument":' || {{ js_value('instrument') }}
                || ',"pieces":' || pieces_json
                || ',"techniques":' || techniques_json
                || ',"goalIds":' || goal_ids_json
                || ',"notes":' || {{ js_optional('notes') }}
                || ',"mood":' || {{ js_optional('mood') }}
                || ',"tags":' || tags_json
                || ',"sessionId":' || {{ js_optional('session_id') }}
                || ',"metadata":'
                || metadata_json
                || ',"createdAt":' || {{ js_string(iso_from_unix_ms('created_at')) }}
                || ',"updatedAt":' || {{ js_string(iso_from_unix_ms('updated_at')) }}
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
    select * from {{ source('backend', 'logbook_entries') }}
    where {{ in_run_scope('logbook_entry') }}
),

{{ staging_cache_ctes('source', source_columns, transformation) }},

{{ transformation }}

select * from final
