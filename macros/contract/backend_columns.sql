{#
    The backend tables' columns, in the contract's order: what staging
    selects, what a row's fingerprint and reject checks cover, and what the
    preflight requires of the database. The one list in code; the columns'
    descriptions are in models/staging/backend/_backend__sources.yml, and a
    test keeps the two in step. (Not read from the graph: a unit test's
    graph has no sources.)
#}
{% macro backend_columns(table_name) -%}
    {{ return({
        'users': [
            'id',
            'email',
            'display_name',
            'primary_instrument',
            'created_at',
            'updated_at',
        ],
        'logbook_entries': [
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
        ],
        'goals': [
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
        ],
        'practice_sessions': [
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
        ],
    }[table_name]) }}
{%- endmacro %}
