{#
    A narrowed merge (var compare: changed). The full merge compares every
    key of its scope on every run, which is what lets it see any change, but
    costs a pass over every key. Where sync_data has `seq` (every API write
    takes a new one, contract "The schema production has now"), a run can
    instead compare only the keys that may have changed since the last run
    that recorded its state (migration_merge_state, in the target):
    - a cached document built since (built_in above the state's cache_mark),
      or a backend row forgotten since (sync_merge_gone);
    - a sync_data row written since (seq above the state's seq_mark), by the
      API or by a rollback;
    - a row rejected last time (migration_rejects), or kept for the API
      (migration_open_keys: an API edit the backend has not changed, or a
      conflict api_wins keeps open), so that every run still counts and
      records them as a full run does.
    Every other key is as that run left it, so its plan would be to leave it.
    The run falls back to comparing every key, and says why, when the state
    cannot vouch for that: no state for an entity type of the scope, another
    on_conflict or d1_row_limit, another set of users (orphans), a cache
    rebuilt from nothing (its forgotten keys unrecorded), another number of
    ledger entries (the ledger edited by hand), no seq, or a
    reject_threshold given as a fraction of every row. A dry run always
    compares every key. A narrowed run's processed_count and skipped_count
    count the keys it compared; every other count is a full run's. What no marker shows is not seen: a sync_data row
    deleted or edited by hand without a new seq; run with compare: all after
    such surgery.
#}

{# The run's mode, checked: 'all' (the default) or 'changed'. #}
{% macro merge_compare_mode() -%}
    {%- set mode = var('compare', 'all') -%}
    {%- if mode not in ['all', 'changed'] -%}
        {{ exceptions.raise_compiler_error(
            "var compare is '" ~ mode ~ "'; use all (the default: every key is "
            ~ "compared) or changed (only the keys that may have changed since "
            ~ "the last run; see docs/operations.md). Nothing was migrated.") }}
    {%- endif -%}
    {{ return(mode) }}
{%- endmacro %}

{# A table of the merge's own in the work file or work schema. #}
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
    create table if not exists {{ gone }} (
        entity_type text not null,
        entity_key text not null,
        built_in integer not null,
        primary key (entity_type, entity_key)
    )
{%- endmacro %}

{#
    A one-row relation, or no row while a narrowed plan is being made (see
    create_merge_work_tables): cross-joined first, it lets a read of every
    key stop before it starts (SQLite scans the left table of a CROSS JOIN
    first; PostgreSQL makes it a one-time filter).
#}
{% macro merge_reads_every_key() -%}
    select 1 as reads_every_key
    where not exists (
        select 1
        from {{ merge_work_relation('sync_merge_keys') }} as narrowing
        where narrowing.entity_type = '*'
    )
{%- endmacro %}

{# The keys of one entity type a narrowed plan compares, as a subquery:
    none outside a narrowed plan, the table being empty then. #}
{% macro merge_keys_of(entity_type) -%}
    select narrowed.entity_key
    from {{ merge_work_relation('sync_merge_keys') }} as narrowed
    where narrowed.entity_type = {{ sql_string(entity_type) }}
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
    migration_merge_state: per entity type, what the last unfiltered real
    run left, in the target database, beside what it describes.
#}
{% macro merge_state_relation() -%}
    {{ return(api.Relation.create(
        database=target.database, schema=target.schema,
        identifier='migration_merge_state', type='table')) }}
{%- endmacro %}

{% macro create_merge_state_table() -%}
    create table if not exists {{ merge_state_relation() }} (
        entity_type text primary key,
        run_id text not null,
        cache_mark integer not null,
        seq_mark integer not null,
        ledger_rows integer not null,
        users_hash text not null,
        on_conflict text not null,
        d1_row_limit text not null,
        recorded_at text not null
    )
{%- endmacro %}

{# The set of user ids, hashed: a user added or removed changes orphans. #}
{% macro users_hash_sql() -%}
    {{ return(adapter.dispatch('users_hash_sql')()) }}
{%- endmacro %}

{% macro sqlite__users_hash_sql() -%}
    select {{ sha256_hex("coalesce(group_concat(ordered.id, char(10)), '')") }}
    from (
        select cast(users.id as text) as id
        from {{ source('backend', 'users') }} as users
        order by 1
    ) as ordered
{%- endmacro %}

{% macro postgres__users_hash_sql() -%}
    select {{ sha256_hex("coalesce(string_agg(cast(users.id as text), chr(10) order by cast(users.id as text) collate \"C\"), '')") }}
    from {{ source('backend', 'users') }} as users
{%- endmacro %}

{#
    In a real run after the write lock: whether this plan may be narrowed
    and, if so, sync_merge_keys filled. Returns the reason every key is
    compared, or none when narrowed.
#}
{% macro narrow_the_merge(features) -%}
    {%- set scope = sync_entity_types() -%}
    {%- set threshold = var('reject_threshold', none) -%}
    {%- set d1_limit = var('d1_row_limit', none) -%}
    {%- set reason = namespace(text=none) -%}
    {%- if not (features.seq and features.sync_sequence) -%}
        {%- set reason.text = 'sync_data has no seq' -%}
    {%- elif threshold is not none and threshold < 1 -%}
        {%- set reason.text = 'reject_threshold is a fraction of every row' -%}
    {%- elif load_relation(merge_state_relation()) is none -%}
        {%- set reason.text = 'no run has recorded its state yet' -%}
    {%- endif -%}
    {%- set marks = {} -%}
    {%- if reason.text is none and load_relation(merge_open_keys_relation()) is none -%}
        {%- set reason.text = 'no run has recorded its open keys yet' -%}
    {%- endif -%}
    {%- if reason.text is none -%}
        {%- set checked = run_query(
            'select state.entity_type, state.run_id, state.cache_mark, state.seq_mark, '
            ~ 'state.ledger_rows, state.users_hash, state.on_conflict, state.d1_row_limit, '
            ~ '(select count(*) from ' ~ migration_ledger_relation() ~ ' as ledger '
            ~ 'where ledger.entity_type = state.entity_type) as ledger_now, '
            ~ '(' ~ users_hash_sql() ~ ') as users_now '
            ~ 'from ' ~ merge_state_relation() ~ ' as state') -%}
        {#- A cache with no row from before the mark was rebuilt from nothing
            (--full-refresh, a new work file): the keys forgotten since were
            never recorded in sync_merge_gone. -#}
        {%- set oldest = {} -%}
        {%- for entity_type, table in migration_entity_tables().items() if entity_type in scope -%}
            {%- set found = run_query(
                'select count(*) as n, min(coalesce(built_in, 0)) as oldest from '
                ~ merge_work_relation('int_' ~ table ~ '_documented')).rows[0] -%}
            {%- do oldest.update({entity_type: found}) -%}
        {%- endfor -%}
        {%- for row in checked.rows -%}
            {%- do marks.update({row['entity_type']: row}) -%}
        {%- endfor -%}
        {%- for entity_type in scope if reason.text is none -%}
            {%- set row = marks.get(entity_type) -%}
            {%- if row is none -%}
                {%- set reason.text = 'no run has recorded the state of ' ~ entity_type -%}
            {%- elif row['on_conflict'] != on_conflict_policy() -%}
                {%- set reason.text = 'the last run had on_conflict ' ~ row['on_conflict'] -%}
            {%- elif row['d1_row_limit'] != (d1_limit | string if d1_limit is not none else '') -%}
                {%- set reason.text = 'the last run had another d1_row_limit' -%}
            {%- elif row['users_hash'] != row['users_now'] -%}
                {%- set reason.text = 'users were added or removed since the last run' -%}
            {%- elif oldest[entity_type]['n'] | int > 0
                and oldest[entity_type]['oldest'] | int > row['cache_mark'] | int -%}
                {%- set reason.text = 'the document cache of ' ~ entity_type
                    ~ ' was rebuilt from nothing since the last run' -%}
            {%- elif row['ledger_rows'] | int != row['ledger_now'] | int -%}
                {%- set reason.text = 'migration_ledger has ' ~ row['ledger_now']
                    ~ ' ' ~ entity_type ~ ' entries, the last run left ' ~ row['ledger_rows'] -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if reason.text is not none -%}
        {{ return(reason.text) }}
    {%- endif -%}
    {%- set tables = migration_entity_tables() -%}
    {%- set user_id = sync_user_id() -%}
    {% call statement('narrow_the_merge') -%}
        insert into {{ merge_work_relation('sync_merge_keys') }} (entity_type, entity_key)
        select distinct candidates.entity_type, candidates.entity_key
        from (
            select '*' as entity_type, '*' as entity_key
            {%- for entity_type in scope %}
            {%- set mark = marks[entity_type] %}
            union all
            select {{ sql_string(entity_type) }}, built.entity_key
            from {{ merge_work_relation('int_' ~ tables[entity_type] ~ '_documented') }} as built
            where built.built_in > {{ mark['cache_mark'] | int }}
            union all
            select gone.entity_type, gone.entity_key
            from {{ merge_work_relation('sync_merge_gone') }} as gone
            where
                gone.entity_type = {{ sql_string(entity_type) }}
                and gone.built_in > {{ mark['cache_mark'] | int }}
            union all
            select written.entity_type, written.entity_id
            from {{ target.schema }}.sync_data as written
            where
                written.seq > {{ mark['seq_mark'] | int }}
                and written.entity_type = {{ sql_string(entity_type) }}
                {%- if user_id is not none %}
                and written.user_id = {{ sql_string(user_id) }}
                {%- endif %}
            {%- endfor %}
            union all
            select still_open.entity_type, still_open.entity_key
            from {{ merge_open_keys_relation() }} as still_open
            where {{ run_scope_where('still_open') }}
            {%- if load_relation(api.Relation.create(database=target.database, schema=target.schema, identifier='migration_rejects', type='table')) is not none %}
            union all
            select rejected.entity_type, rejected.entity_key
            from {{ target.schema }}.migration_rejects as rejected
            where {{ run_scope_where('rejected') }}
            {%- endif %}
        ) as candidates
        where candidates.entity_key is not null
    {%- endcall %}
    {{ return(none) }}
{%- endmacro %}

{# After the plan: the keys forgotten, so every other reader reads all. #}
{% macro end_merge_narrowing() -%}
    {% call statement('end_merge_narrowing') -%}
        delete from {{ merge_work_relation('sync_merge_keys') }}
    {%- endcall %}
{%- endmacro %}

{#
    migration_open_keys: the keys the last run covering them kept for the
    API (an API edit, or a conflict api_wins keeps open), which a narrowed
    run compares again although nothing marks them as changed.
#}
{% macro merge_open_keys_relation() -%}
    {{ return(api.Relation.create(
        database=target.database, schema=target.schema,
        identifier='migration_open_keys', type='table')) }}
{%- endmacro %}

{#
    After the writes of a real run on a sync_data with seq: the open keys
    of what it planned; then, without a user filter, per entity type of the
    scope, the marks below which every key is as this run left it and what
    a later narrowed run must find the same; with a user filter, only the
    ledger's count moved by the entries this run added, as its marks do not
    cover the other users.
#}
{% macro record_merge_state(features, incoming, narrowed) -%}
    {%- if not (features.seq and features.sync_sequence) -%}
        {{ return('') }}
    {%- endif -%}
    {%- set tables = migration_entity_tables() -%}
    {%- set d1_limit = var('d1_row_limit', none) -%}
    {%- set open = merge_open_keys_relation() -%}
    {% call statement('create_merge_open_keys') -%}
        create table if not exists {{ open }} (
            entity_type text not null,
            entity_key text not null,
            user_id text,
            primary key (entity_type, entity_key)
        )
    {%- endcall %}
    {% call statement('forget_merge_open_keys') -%}
        delete from {{ open }}
        where
            {{ run_scope_where(open.identifier) }}
            {%- if narrowed %}
            and exists (
                select 1
                from {{ incoming }} as planned
                where
                    planned.entity_type = {{ open.identifier }}.entity_type
                    and coalesce(planned.entity_key, planned.entity_id)
                    = {{ open.identifier }}.entity_key
            )
            {%- endif %}
    {%- endcall %}
    {% call statement('record_merge_open_keys') -%}
        insert into {{ open }} (entity_type, entity_key, user_id)
        select
            planned.entity_type,
            coalesce(planned.entity_key, planned.entity_id),
            max(planned.user_id)
        from {{ incoming }} as planned
        where planned.sync_action = 'kept_for_api'
        group by planned.entity_type, coalesce(planned.entity_key, planned.entity_id)
    {%- endcall %}
    {% call statement('create_merge_state') -%}
        {{ create_merge_state_table() }}
    {%- endcall %}
    {%- if sync_user_id() is not none -%}
        {% call statement('record_merge_state') -%}
            update {{ merge_state_relation() }}
            set ledger_rows = ledger_rows + (
                select count(*)
                from {{ incoming }} as planned
                where
                    planned.ledger_write = 1
                    and planned.ledger_checksum is null
                    and planned.entity_type = {{ merge_state_relation().identifier }}.entity_type
            )
        {%- endcall %}
        {{ return('') }}
    {%- endif -%}
    {% call statement('record_merge_state') -%}
        insert into {{ merge_state_relation() }} (
            entity_type, run_id, cache_mark, seq_mark, ledger_rows, users_hash,
            on_conflict, d1_row_limit, recorded_at
        )
        select * from (
        {%- for entity_type in sync_entity_types() %}
        select
            {{ sql_string(entity_type) }} as entity_type,
            {{ sql_string(invocation_id) }} as run_id,
            (
                select coalesce(max(marks.number), 0)
                from (
                    select max(built.built_in) as number
                    from {{ merge_work_relation('int_' ~ tables[entity_type] ~ '_documented') }} as built
                    union all
                    select max(gone.built_in) as number
                    from {{ merge_work_relation('sync_merge_gone') }} as gone
                    where gone.entity_type = {{ sql_string(entity_type) }}
                ) as marks
            ) as cache_mark,
            (
                select coalesce(max(current_value), 0)
                from {{ target.schema }}.sync_sequence
            ) as seq_mark,
            (
                select count(*)
                from {{ migration_ledger_relation() }} as ledger
                where ledger.entity_type = {{ sql_string(entity_type) }}
            ) as ledger_rows,
            ({{ users_hash_sql() }}) as users_hash,
            {{ sql_string(on_conflict_policy()) }} as on_conflict,
            {{ sql_string(d1_limit | string if d1_limit is not none else '') }} as d1_row_limit,
            {{ now_text() }} as recorded_at
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
        ) as recorded
        where true
        on conflict (entity_type) do update set
            run_id = excluded.run_id,
            cache_mark = excluded.cache_mark,
            seq_mark = excluded.seq_mark,
            ledger_rows = excluded.ledger_rows,
            users_hash = excluded.users_hash,
            on_conflict = excluded.on_conflict,
            d1_row_limit = excluded.d1_row_limit,
            recorded_at = excluded.recorded_at
    {%- endcall %}
{%- endmacro %}
