{{
    config(
        materialized='incremental',
        unique_key='reject_key',
        tags=['practice_session'],
        meta={'entity_type': 'practice_session'},
        pre_hook="{{ forget_deleted_source_rows('practice_sessions', 'practice_session') }}",
        post_hook="{{ index_staging_cache() }}",
    )
}}

{%- set source_columns = [
    'id',
    'user_id',
    'instrument',
    'sheet_music_id',
    'session_type',
    'started_at',
    'completed_at',
    'paused_duration',
    'accuracy_percentage',
    'notes_attempted',
    'notes_correct',
] -%}

{#
    The transformation, source row to document, is set apart first because
    its text is part of every row's fingerprint: the documents cached by
    earlier runs are reused only while the source row and this SQL are
    unchanged (macros/staging_cache/).
#}
{%- set transformation %}


{#
    A DATETIME holds SQLite text, ISO-8601 text or Unix ms; each becomes Unix
    ms here, once, so that the checks and the document read the same value.
#}
instants as (
    select
        changed.*,
        {{ datetime_ms('started_at') }} as started_at_ms,
        {{ datetime_ms('completed_at', allow_empty=true) }} as completed_at_ms
    from changed
),

checked as materialized (
    select
        instants.*,
        {{ first_broken_rule([
            reject_missing_id(),
            reject_missing_timestamp('started_at'),
            reject_unreadable_datetime('started_at', 'started_at_ms'),
            reject_unreadable_datetime(
                'completed_at', 'completed_at_ms', allow_empty=true,
            ),
            reject_timestamp_out_of_range(['started_at', 'completed_at']),
            reject_blob(source_columns),
        ]) }} as reject_reason
    from instants
),

documented as materialized (
    select
        'practice_session' as entity_type,
        cast(id as text) as entity_id,
        cast(user_id as text) as user_id,
        row_key as reject_key,
        source_fingerprint,
        reject_reason,
        {{ reject_value('reject_reason', source_columns) }} as reject_value,
        case
            when reject_reason is null
                then '{"id":' || {{ js_value('id') }}
                || ',"instrument":' || {{ js_value('instrument') }}
                || ',"sheetMusicId":' || {{ js_optional('sheet_music_id') }}
                || ',"sessionType":' || {{ js_value('session_type') }}
                || ',"startedAt":'
                || {{ js_string(iso_from_unix_ms('started_at_ms')) }}
                || ',"completedAt":'
                || case
                    when {{ is_unset_timestamp('completed_at') }} then 'null'
                    else {{ js_string(iso_from_unix_ms('completed_at_ms')) }}
                end
                || ',"pausedDuration":' || {{ js_value_or('paused_duration', '0') }}
                || ',"accuracyPercentage":' || {{ js_value('accuracy_percentage') }}
                || ',"notesAttempted":' || {{ js_value_or('notes_attempted', '0') }}
                || ',"notesCorrect":' || {{ js_value_or('notes_correct', '0') }}
                || '}'
        end as data
    from checked
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
    select * from {{ source('backend', 'practice_sessions') }}
    where {{ in_run_scope('practice_session') }}
),

{{ staging_cache_ctes('source', source_columns, transformation) }},

{{ transformation }}

select * from final
