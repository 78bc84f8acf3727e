{#
    The backend's logbook_entries as stored: every declared column, uncast, because the
    contract judges the stored values themselves (text in a Unix-ms column, a
    BLOB, REAL against INTEGER), which a cast would hide.
#}

with

source as (
    select * from {{ source('backend', 'logbook_entries') }}
    where {{ in_run_scope(entity_type_of('logbook_entries')) }}
),

renamed as (
    select
        {{ backend_columns('logbook_entries') | join(',\n        ') }},
        {{ backend_deleted_flag(
            source('backend', 'logbook_entries')
        ) }} as backend_deleted
    from source
)

select * from renamed
