{#
    The backend's users as stored: every declared column, uncast, because the
    contract judges the stored values themselves (text in a Unix-ms column, a
    BLOB, REAL against INTEGER), which a cast would hide.
#}

with

source as (
    select * from {{ source('backend', 'users') }}
),

renamed as (
    select
        {{ backend_columns('users') | join(',\n        ') }}
    from source
)

select * from renamed
