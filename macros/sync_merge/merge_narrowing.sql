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
            ~ 'state.work_id, '
            ~ '(select count(*) from ' ~ migration_ledger_relation() ~ ' as ledger '
            ~ 'where ledger.entity_type = state.entity_type) as ledger_now, '
            ~ '(' ~ users_hash_sql() ~ ') as users_now, '
            ~ '(select max(work_id) from ' ~ merge_work_relation('sync_merge_identity') ~ ') as work_now, '
            ~ '(select coalesce(max(current_value), 0) from ' ~ target.schema ~ '.sync_sequence) as sequence_now '
            ~ 'from ' ~ merge_state_relation() ~ ' as state') -%}
        {#- A cache with no row from before the mark was rebuilt from nothing
            (--full-refresh, a new work file): the keys forgotten since were
            never recorded in sync_merge_gone. -#}
        {%- set oldest = {} -%}
        {%- for entity_type, table in migration_entity_tables().items() if entity_type in scope -%}
            {%- set found = run_query(
                'select count(*) as n, min(coalesce(built_in, 0)) as oldest, '
                ~ '(select coalesce(max(built_in), 0) from ' ~ merge_work_relation('sync_merge_gone')
                ~ ' where entity_type = ' ~ sql_string(entity_type) ~ ') as newest_gone, '
                ~ 'coalesce(max(built_in), 0) as newest from '
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
            {%- elif row['work_id'] != row['work_now'] -%}
                {%- set reason.text = 'the work file is not the one the last run used' -%}
            {%- elif [oldest[entity_type]['newest'] | int, oldest[entity_type]['newest_gone'] | int]
                | max < row['cache_mark'] | int -%}
                {%- set reason.text = 'the document cache of ' ~ entity_type
                    ~ ' is older than the last run' -%}
            {%- elif (oldest[entity_type]['n'] | int > 0
                and oldest[entity_type]['oldest'] | int > row['cache_mark'] | int)
                or (oldest[entity_type]['n'] | int == 0 and row['ledger_rows'] | int > 0) -%}
                {%- set reason.text = 'the document cache of ' ~ entity_type
                    ~ ' was rebuilt from nothing since the last run' -%}
            {%- elif row['sequence_now'] | int < row['seq_mark'] | int -%}
                {%- set reason.text = 'sync_sequence was set back below the last run\'s mark' -%}
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
