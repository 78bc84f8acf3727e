{#
    Take the write lock before the plan reads anything, so that no other
    writer (the API, another run) changes sync_data, the ledger or
    sync_sequence between the plan and the writes; the other writer waits
    for the commit, or fails on its own busy timeout.
#}
{% macro take_merge_write_lock(features) -%}
    {{ return(adapter.dispatch('take_merge_write_lock')(features)) }}
{%- endmacro %}

{#- SQLite has one writer per database: a write that changes nothing still
    takes the lock, for the rest of the transaction. -#}
{% macro sqlite__take_merge_write_lock(features) -%}
    {% call statement('write_lock') -%}
        update {{ migration_ledger_relation() }} set checksum = checksum where 1 = 0
    {%- endcall %}
{%- endmacro %}

{#- The API takes a number from sync_sequence before it writes sync_data:
    taking the two locks in the same order cannot deadlock with it. -#}
{% macro postgres__take_merge_write_lock(features) -%}
    {% call statement('write_lock') -%}
        {%- if features.sync_sequence %}
        select current_value from {{ target.schema }}.sync_sequence where id = 1 for update;
        {%- endif %}
        lock table {{ target.schema }}.sync_data in share row exclusive mode;
        lock table {{ migration_ledger_relation() }} in share row exclusive mode
    {%- endcall %}
{%- endmacro %}

{#
    What the target database has, read from its catalog on every run (the
    contract: detected from the database, never from a setting):
    - seq, device_id: sync_data's columns of the shape production has now;
    - sync_sequence: the table the API takes sequence numbers from;
    - ledger: this project's ownership ledger.
#}
{% macro sync_data_features(relation) -%}
    {%- set tables = run_query(table_names_sql()).columns[0].values() | list -%}
    {%- set columns = [] -%}
    {%- if relation is not none -%}
        {%- set columns = run_query(column_names_sql('sync_data')).columns[0].values() | map('lower') | list -%}
    {%- endif -%}
    {{ return({
        'seq': 'seq' in columns,
        'device_id': 'device_id' in columns,
        'sync_sequence': 'sync_sequence' in tables,
        'ledger': migration_ledger_relation().identifier in tables,
    }) }}
{%- endmacro %}

{#
    Where sync_data has seq but the database has no sync_sequence, create it
    set to the largest seq present, as the API's own schema change does; a
    sync_sequence without its row gets it the same way.
#}
{% macro ensure_sync_sequence() -%}
    {% call statement('create_sync_sequence') -%}
        create table if not exists {{ target.schema }}.sync_sequence (
            id integer primary key check (id = 1),
            current_value integer not null default 0
        )
    {%- endcall %}
    {% call statement('seed_sync_sequence') -%}
        insert into {{ target.schema }}.sync_sequence (id, current_value)
        select
            1,
            (select coalesce(max(seq), 0) from {{ target.schema }}.sync_data)
        where not exists (
            select 1 from {{ target.schema }}.sync_sequence where id = 1
        )
    {%- endcall %}
{%- endmacro %}

{# The sequence stored back: the last number this merge took. #}
{% macro advance_sync_sequence_sql(incoming) -%}
    update {{ target.schema }}.sync_sequence
    set current_value = (
        select max({{ merge_new_seq('written') }})
        from {{ incoming }} as written
    )
    where
        id = 1
        and exists (
            select 1
            from {{ incoming }} as written
            where written.takes_seq = 1
        )
{%- endmacro %}

{#
    The number the merge's first write adds 1 to: sync_sequence's value, or
    the largest seq present if that is higher (a number is never handed out
    twice, even if the sequence was set back). A dry run on a database
    without sync_sequence (a real run creates it first) reads seq alone.
#}
{% macro sequence_base_sql(features) -%}
    (
        select coalesce(max(taken.value), 0)
        from (
            {%- if features.sync_sequence %}
            select current_value as value
            from {{ target.schema }}.sync_sequence
            where id = 1
            union all
            {%- endif %}
            select max(seq) as value
            from {{ target.schema }}.sync_data
        ) as taken
    )
{%- endmacro %}
