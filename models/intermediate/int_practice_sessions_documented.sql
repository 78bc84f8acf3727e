{{
    config(
        unique_key='entity_key',
        tags=['practice_session'],
        meta={'entity_type': 'practice_session'},
        on_schema_change='append_new_columns',
        pre_hook=[
            "{{ add_document_cache_columns() }}",
            "{{ create_merge_work_tables() }}",
        ],
        post_hook=[
            "{{ index_document_cache() }}",
            "{{ forget_gone_documents('practice_sessions') }}",
        ],
    )
}}

with

practice_sessions as (
    select * from {{ ref('stg_backend__practice_sessions') }}
),

{%- set checks %}

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

checked as {{ checked_materialization() }}(
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
            reject_blob(backend_columns('practice_sessions')),
        ]) }} as reject_reason
    from instants
)
{%- endset %}

{%- set document %}
'{"id":' || {{ js_value('id') }}
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
|| ',"pausedDuration":'
|| {{ js_value_or('paused_duration', '0') }}
|| ',"accuracyPercentage":'
|| {{ js_value('accuracy_percentage') }}
|| ',"notesAttempted":'
|| {{ js_value_or('notes_attempted', '0') }}
|| ',"notesCorrect":' || {{ js_value_or('notes_correct', '0') }}
|| '}'
{%- endset %}

{{ document_cache_ctes(
    'practice_sessions', 'practice_session', checks, document,
) }}

{#- built_in stays out of the fingerprinted CTEs: it differs every run. #}
select
    final.*,
    cast(
        {{ next_cache_build('practice_session', is_incremental()) }} as integer
    ) as built_in
from final
