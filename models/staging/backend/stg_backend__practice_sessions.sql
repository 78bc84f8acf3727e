{#
    The backend's practice_sessions as stored: every declared column, uncast, because the
    contract judges the stored values themselves (text in a Unix-ms column, a
    BLOB, REAL against INTEGER), which a cast would hide.
#}

with

source as (
    select * from {{ source('backend', 'practice_sessions') }}
    where {{ in_run_scope(entity_type_of('practice_sessions')) }}
),

renamed as (
    select
        {{ backend_columns('practice_sessions') | join(',\n        ') }},
        {{ backend_deleted_flag(
            source('backend', 'practice_sessions')
        ) }} as backend_deleted
    from source
)

select * from renamed
