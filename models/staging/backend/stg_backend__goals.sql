{#
    The backend's goals as stored: every declared column, uncast, because the
    contract judges the stored values themselves (text in a Unix-ms column, a
    BLOB, REAL against INTEGER), which a cast would hide.
#}

with

source as (
    select * from {{ source('backend', 'goals') }}
    where {{ in_run_scope(entity_type_of('goals')) }}
),

renamed as (
    select
        {{ backend_columns('goals') | join(',\n        ') }},
        {{ backend_deleted_flag(
            source('backend', 'goals')
        ) }} as backend_deleted
    from source
)

select * from renamed
