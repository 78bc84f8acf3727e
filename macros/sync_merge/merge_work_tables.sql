{#
    The merge's own tables in the work file (SQLite) or work schema
    (PostgreSQL), and the marks a narrowed merge (merge_narrowing.sql) finds
    changed documents by.
#}

{% macro merge_work_relation(identifier) -%}
    {{ return(api.Relation.create(
        database=target.database,
        schema=generate_schema_name('work', none) | trim,
        identifier=identifier,
        type='table')) }}
{%- endmacro %}

{#
    sync_merge_keys holds the keys a narrowed merge compares, and only
    while it plans (it is emptied before the commit). The row ('*', '*')
    says a narrowed plan is being made: without it, every reader of the
    documents and the ledger (tests, the analysis) reads every key.
    sync_merge_gone keeps the keys of forgotten documents (backend row gone)
    with the build that forgot them.
#}
{% macro create_merge_work_tables() -%}
    {%- set keys = merge_work_relation('sync_merge_keys') -%}
    {%- set gone = merge_work_relation('sync_merge_gone') -%}
    {%- do run_query(
        'create table if not exists ' ~ keys ~ ' (entity_type text not null, '
        ~ 'entity_key text not null, primary key (entity_type, entity_key))') -%}
    {%- set identity = merge_work_relation('sync_merge_identity') -%}
    {%- if execute and load_relation(identity) is none -%}
        {%- do run_query('create table if not exists ' ~ identity ~ ' (work_id text not null)') -%}
        {%- do run_query('insert into ' ~ identity ~ ' (work_id) select ' ~ random_id_sql()
            ~ ' where not exists (select 1 from ' ~ identity ~ ')') -%}
    {%- endif -%}
    create table if not exists {{ gone }} (
        entity_type text not null,
        entity_key text not null,
        built_in integer not null,
        primary key (entity_type, entity_key)
    )
{%- endmacro %}

{# A random id for a new work file (sync_merge_identity). #}
{% macro random_id_sql() -%}
    {{ return(adapter.dispatch('random_id_sql')()) }}
{%- endmacro %}

{% macro sqlite__random_id_sql() -%}
    lower(hex(randomblob(16)))
{%- endmacro %}

{% macro postgres__random_id_sql() -%}
    md5(random()::text || clock_timestamp()::text)
{%- endmacro %}

{#
    A one-row relation, or no row while a narrowed plan is being made (see
    create_merge_work_tables): cross-joined first, it lets a read of every
    key stop before it starts (SQLite scans the left table of a CROSS JOIN
    first; PostgreSQL makes it a one-time filter).
#}
{% macro merge_reads_every_key() -%}
    {%- set keys = merge_work_relation('sync_merge_keys') -%}
    select 1 as reads_every_key
    {%- if not execute or load_relation(keys) is not none %}
    where not exists (
        select 1
        from {{ keys }} as narrowing
        where narrowing.entity_type = '*'
    )
    {%- endif %}
{%- endmacro %}

{# The keys of one entity type a narrowed plan compares, as a subquery:
    none outside a narrowed plan, the table being empty then. #}
{% macro merge_keys_of(entity_type) -%}
    {%- set keys = merge_work_relation('sync_merge_keys') -%}
    {%- if not execute or load_relation(keys) is not none -%}
    select narrowed.entity_key
    from {{ keys }} as narrowed
    where narrowed.entity_type = {{ sql_string(entity_type) }}
    {%- else -%}
    select cast(null as text) as entity_key
    where 1 = 0
    {%- endif -%}
{%- endmacro %}

{# Every narrowed key, as a subquery of (entity_type, entity_key). #}
{% macro merge_keys() -%}
    {%- set keys = merge_work_relation('sync_merge_keys') -%}
    {%- if not execute or load_relation(keys) is not none -%}
    select narrowed.entity_type, narrowed.entity_key
    from {{ keys }} as narrowed
    {%- else -%}
    select cast(null as text) as entity_type, cast(null as text) as entity_key
    where 1 = 0
    {%- endif -%}
{%- endmacro %}

{#
    The number a documented model gives the rows it builds (column
    built_in), and the forget hook the keys it forgets: above every number
    given before, and above the cache_mark of migration_merge_state, so that
    a cache rebuilt from nothing (--full-refresh) still reads as changed.
#}
{% macro next_cache_build(entity_type, cache_exists) -%}
    {%- set state = load_relation(merge_state_relation()) if execute else none -%}
    {%- set gone = load_relation(merge_work_relation('sync_merge_gone')) if execute else none -%}
    (
        select coalesce(max(given.number), 0) + 1
        from (
            select 0 as number
            {%- if cache_exists %}
            union all
            select max(built_in) as number from {{ this }}
            {%- endif %}
            {%- if gone is not none %}
            union all
            select max(built_in) as number
            from {{ gone }}
            where entity_type = {{ sql_string(entity_type) }}
            {%- endif %}
            {%- if state is not none %}
            union all
            select max(cache_mark) as number
            from {{ state }}
            where entity_type = {{ sql_string(entity_type) }}
            {%- endif %}
        ) as given
    )
{%- endmacro %}

{#
    Right after the write lock, before the plan: per entity type of the
    scope, the largest build of the cache and of sync_merge_gone. The state
    records these, not the largest at its end: on PostgreSQL another
    session may commit a build during the merge, which the plan never saw.
#}
{% macro merge_cache_marks() -%}
    {%- set tables = migration_entity_tables() -%}
    {%- set marks = {} -%}
    {%- for entity_type in sync_entity_types() -%}
        {%- set found = run_query(
            'select coalesce(max(marks.number), 0) as mark from ('
            ~ ' select max(built.built_in) as number from '
            ~ merge_work_relation('int_' ~ tables[entity_type] ~ '_documented') ~ ' as built'
            ~ ' union all select max(gone.built_in) as number from '
            ~ merge_work_relation('sync_merge_gone') ~ ' as gone'
            ~ ' where gone.entity_type = ' ~ sql_string(entity_type) ~ ') as marks').rows[0] -%}
        {%- do marks.update({entity_type: found['mark']}) -%}
    {%- endfor -%}
    {{ return(marks) }}
{%- endmacro %}
