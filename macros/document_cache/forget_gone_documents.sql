{#
    Post-hook of a documented model: forget the cached documents of the
    run's scope whose backend row is gone (hard-deleted, or moved to another
    user), so that the cache of the scope holds exactly its backend rows and
    the merge reads it alone: a key the ledger names and the cache does not
    is gone. A soft-deleted row stays, with backend_deleted 1. A text id is
    looked up in the backend's primary key; the keys of the other ids (none
    in production's schema) are read once. The forgotten keys go to
    sync_merge_gone with a build number, for a narrowed merge.
#}
{% macro forget_gone_documents(table_name) -%}
    {%- set live_columns = [] -%}
    {%- for column in backend_columns(table_name) -%}
        {%- do live_columns.append('live.' ~ column) -%}
    {%- endfor -%}
    {%- set entity_type = entity_type_of(table_name) -%}
    {%- set gone = merge_work_relation('sync_merge_gone') -%}
    {%- if execute -%}
        {%- do run_query(
            'delete from ' ~ gone ~ ' where entity_type = ' ~ sql_string(entity_type)
            ~ ' and entity_key in (select entity_key from ' ~ this ~ ')') -%}
        {%- call statement('remember_gone_documents') -%}
            insert into {{ gone }} (entity_type, entity_key, built_in)
            select
                {{ sql_string(entity_type) }},
                forgotten.entity_key,
                {{ next_cache_build(entity_type, true) }}
            from {{ this }} as forgotten
            where
                {{ in_run_scope(entity_type, 'forgotten.user_id') }}
                and not exists (
                    select 1
                    from {{ source('backend', table_name) }} as live
                    where
                        live.id = forgotten.entity_key
                        and {{ value_type('live.id') }} = 'text'
                        and {{ in_run_scope(entity_type, 'live.user_id') }}
                )
                and forgotten.entity_key not in (
                    select {{ entity_key('live.id', live_columns) }}
                    from {{ source('backend', table_name) }} as live
                    where
                        {{ value_type('live.id') }} != 'text'
                        and {{ in_run_scope(entity_type, 'live.user_id') }}
                )
        {%- endcall -%}
    {%- endif -%}
    delete from {{ this }}
    where entity_key in (
        select gone.entity_key
        from {{ gone }} as gone
        where gone.entity_type = {{ sql_string(entity_type) }}
    )
{%- endmacro %}
