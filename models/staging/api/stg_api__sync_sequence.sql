{#
    The last sequence number handed out, one row: sync_sequence's value, or
    the largest seq in sync_data if that is higher, so that a number is never
    handed out twice even if the sequence was set back; 0 where sync_data has
    no seq yet. The merge's writes take the numbers after it. It aggregates,
    unlike the rest of staging, because it reads sync_data's seq straight from
    the table: reading it through stg_api__sync_data as well would make
    SQLite copy that model into a temp table.
#}

{%- set features = sync_data_features(load_relation(source('api', 'sync_data')))
    if execute else {} %}

with

source as (
    {%- if features.seq %}
        select {{ sequence_base_sql(features) }} as value
    {%- else %}
        select 0 as value
    {%- endif %}
),

renamed as (
    select cast(source.value as integer) as last_value
    from source
)

select * from renamed
