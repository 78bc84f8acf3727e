{#
    The document diff told: on the console, group by group, and in full in
    its CSV file (document_diff_sql computes it).
#}

{#
    The diff of the plan in `incoming`: the changed rows other than inserts
    into a temp table (inserts are whole documents: counted, not compared),
    every line into the CSV file of var diff_csv, and the groups on the
    console, each with its count and the first examples, before → after.
#}
{% macro report_document_diff(incoming, dry_run) -%}
    {%- set diff = merge_temp_relation('sync_data__diff') -%}
    {% call statement('drop_diff') -%}
        drop table if exists {{ diff }}
    {%- endcall %}
    {% call statement('diff') -%}
        create temp table {{ diff.identifier }} as
        {{ document_diff_sql(incoming) }}
    {%- endcall %}
    {%- set group_columns = 'entity_type, action, conflict_kind, changed_fields' -%}
    {%- set groups = run_query(
        "select " ~ group_columns ~ ", count(*) as row_count, '' as first_id, '' as last_id"
        ~ " from (select distinct " ~ group_columns ~ ", user_id, entity_id from " ~ diff ~ ") as keyed"
        ~ " group by " ~ group_columns
        ~ " union all"
        ~ " select entity_type, 'insert', null, '', count(*), min(entity_id), max(entity_id)"
        ~ " from " ~ incoming ~ " where sync_action = 'insert' group by entity_type"
        ~ " order by 1, 2, 3, 5 desc, 4"
    ) -%}
    {%- set examples = run_query(
        "select " ~ group_columns ~ ", entity_id, field, before_value, after_value"
        ~ " from (select lines.*, dense_rank() over (partition by " ~ group_columns
        ~ " order by " ~ binary_sort('user_id') ~ ", " ~ binary_sort('entity_id') ~ ") as example"
        ~ " from " ~ diff ~ " as lines) as ranked"
        ~ " where example <= " ~ diff_example_count()
        ~ " order by " ~ binary_sort('user_id') ~ ", " ~ binary_sort('entity_id') ~ ", " ~ binary_sort('field')
    ) -%}
    {%- set csv_path = var('diff_csv', 'target/run_diff.csv') -%}
    {%- do write_document_diff_file(diff, incoming, csv_path) -%}
    {{ log(("dry run diff" if dry_run else "diff") ~ ": " ~ groups | length ~ " group(s) of changed rows"
        ~ (", none" if not groups else ""), info=True) }}
    {%- for group in groups -%}
        {%- set shown = [] -%}
        {%- if group['action'] == 'insert' -%}
            {%- do shown.append(group['first_id'] ~ (" … " ~ group['last_id'] if group['row_count'] > 1 else "")) -%}
        {%- endif -%}
        {%- set samples = {} -%}
        {%- for line in examples
            if line['entity_type'] == group['entity_type'] and line['action'] == group['action']
            and line['conflict_kind'] == group['conflict_kind']
            and line['changed_fields'] == group['changed_fields'] -%}
            {%- do samples.setdefault(line['entity_id'] | string, []) -%}
            {%- if line['field'] is not none -%}
                {%- do samples[line['entity_id'] | string].append(line['field'] ~ " "
                    ~ diff_value(line['before_value']) ~ " → " ~ diff_value(line['after_value'])) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- for entity_id, changes in samples.items() -%}
            {%- do shown.append(entity_id ~ (" " ~ changes | join(', ') if changes else "")) -%}
        {%- endfor -%}
        {{ log("  " ~ group['entity_type'] ~ " " ~ group['action']
            ~ (" (conflict " ~ group['conflict_kind'] ~ ")" if group['conflict_kind'] else "")
            ~ (": " ~ group['changed_fields'] if group['changed_fields'] else "")
            ~ " — " ~ group['row_count'] ~ " row(s), e.g. " ~ shown | join('; '), info=True) }}
    {%- endfor -%}
    {{ log(("dry run diff" if dry_run else "diff") ~ ": every key and field is in " ~ csv_path, info=True) }}
{%- endmacro %}

{# The diff file's columns, in order. #}
{% macro document_diff_columns() -%}
    {{ return(['run_id', 'entity_type', 'action', 'conflict_kind', 'changed_fields', 'user_id',
        'entity_id', 'field', 'before_value', 'after_value']) }}
{%- endmacro %}

{#
    The diff file (CSV with a header): the lines of `diff`, grouped, then
    one line per insert of `incoming`. A file that cannot be written fails
    the statement, and with it the run, naming the path.
#}
{% macro write_document_diff_file(diff, incoming, path) -%}
    {{ return(adapter.dispatch('write_document_diff_file')(diff, incoming, path)) }}
{%- endmacro %}

{#- Straight from SQLite to the file (csv_line and write_lines, the
    project's extension): one pass, no line through Python. -#}
{% macro sqlite__write_document_diff_file(diff, incoming, path) -%}
    {%- set run_id = sql_string(invocation_id) -%}
    {%- set line = 'csv_line(' ~ ([run_id] + document_diff_columns()[1:]) | join(', ') ~ ')' -%}
    {%- set inserted -%}
        {{ run_id }} as run_id, entity_type, 'insert' as action, null as conflict_kind,
        '' as changed_fields, user_id, entity_id, null as field, null as before_value,
        null as after_value
    {%- endset -%}
    {% call statement('diff_file') -%}
        select write_lines({{ sql_string(path) }}, lines.line)
        from (
            select {{ sql_string(document_diff_columns() | join(',')) }} as line
            union all
            select * from (
                select {{ line }} as line
                from {{ diff }}
                order by entity_type, action, conflict_kind, changed_fields, user_id, entity_id, field
                limit -1
            )
            union all
            select {{ line }} as line
            from (select {{ inserted }} from {{ incoming }} where sync_action = 'insert')
            {#- the end: only now does the file replace the previous one #}
            union all
            select null as line
        ) as lines
    {%- endcall %}
{%- endmacro %}

{#- Through dbt's agate table: every column text, so that agate guesses no
    types (a guess turns the JSON text true into True). -#}
{% macro postgres__write_document_diff_file(diff, incoming, path) -%}
    {%- set text_columns = [] -%}
    {%- for column in document_diff_columns()[1:] -%}
        {%- do text_columns.append("coalesce(cast(" ~ column ~ " as text), '') as " ~ column) -%}
    {%- endfor -%}
    {%- set lines = run_query(
        "select " ~ sql_string(invocation_id) ~ " as run_id, " ~ text_columns | join(', ')
        ~ " from (select * from (select * from " ~ diff
        ~ " order by entity_type, action, conflict_kind, changed_fields, "
        ~ binary_sort('user_id') ~ ", " ~ binary_sort('entity_id') ~ ", " ~ binary_sort('field')
        ~ ") as ordered_diff"
        ~ " union all select entity_type, 'insert', null, '', user_id, entity_id, null, null, null"
        ~ " from " ~ incoming ~ " where sync_action = 'insert') as lines"
    ) -%}
    {%- do lines.to_csv(path) -%}
{%- endmacro %}

{# How many keys of each diff group the console shows. #}
{% macro diff_example_count() -%}
    {{ return(2) }}
{%- endmacro %}

{# A diff value for the console: its JSON text, cut at 60 characters. #}
{% macro diff_value(value) -%}
    {%- if value is none -%}
        {{ return('(absent)') }}
    {%- endif -%}
    {%- set text = value | string -%}
    {{ return(text if text | length <= 60 else text[:57] ~ '...') }}
{%- endmacro %}
