{#
    on-run-start: the engine's own JSON and date functions. SQLite loads them
    from the project's C extension (profiles.yml), so there is nothing to do.
    PostgreSQL gets them as SQL and PL/pgSQL functions (js_number, js_json,
    js_json_is_valid, js_string, iso_from_unix_ms), created or replaced on
    every run, so a run always uses the definitions of its own checkout. They
    were checked against node's JSON.stringify by a differential fuzz (see
    docs/postgres.md, "What is engine-specific").
#}
{% macro install_js_functions() -%}
    {{ return(adapter.dispatch('install_js_functions')()) }}
{%- endmacro %}

{% macro sqlite__install_js_functions() -%}
{%- endmacro %}

{#-
    PostgreSQL: created in the work schema ("<schema>_work", first on the
    connection's search path), never in the schema the API owns, under a
    transaction-scoped advisory lock so that two runs starting together do not
    replace the same function at once.
    One macro per function name, in postgres_functions/. They need PostgreSQL
    12+ (shortest round-trip float8 output) and a UTF8 database. float8 -> text
    is that shortest output only while the session's extra_float_digits is > 0
    (the default, 1), so js_number sets it to 1 for its own call. The bodies
    are written for standard_conforming_strings = on (the default since 9.1):
    '\' is one backslash.
    The order matters: a SQL function's body is checked when it is created, so
    what it calls must exist already (js_json__walk before js_json__member,
    js_number before js_json__member); PL/pgSQL bodies are resolved only when
    they run. The functions call one another by plain name, through the search
    path. The document cache's fingerprint covers this whole text (see
    source_fingerprint), so a change to any function rebuilds the documents.
-#}
{% macro postgres__install_js_functions() -%}
{%- set work_schema = adapter.dispatch('custom_schema_name')('work') -%}
create schema if not exists {{ work_schema }};
select pg_advisory_xact_lock(hashtext('sync_data_migration.install_js_functions'));
{{ postgres_function__js_number__shortest_big(work_schema) }}
{{ postgres_function__js_number(work_schema) }}
{{ postgres_function__js_string(work_schema) }}
{{ postgres_function__js_json__walk(work_schema) }}
{{ postgres_function__js_json__member(work_schema) }}
{{ postgres_function__js_json__encode_escapes(work_schema) }}
{{ postgres_function__js_json__decode_escapes(work_schema) }}
{{ postgres_function__js_json__is_canonical(work_schema) }}
{{ postgres_function__js_json(work_schema) }}
{{ postgres_function__js_json_is_valid(work_schema) }}
{{ postgres_function__iso_from_unix_ms(work_schema) }}
{%- endmacro %}
