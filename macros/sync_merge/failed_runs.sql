{#
    on-run-end: a real run (run or build) whose sync_data model did not
    succeed gets a `failed` row per entity type, with dbt's error message cut
    to one plain line; sync_data itself was left as it was (its transaction
    never committed). Jinja cannot catch an exception, and one raised here
    would end the run as a "keyboard interrupt" (dbt handles an on-run-end
    hook's compile error that way), so every write that is known to fail is
    not attempted: the run says in one line why it was not recorded.
#}
{% macro record_failed_migration(results) -%}
    {%- if not execute or var('dry_run', false) or flags.WHICH not in ['run', 'build'] -%}
        {{ return('') }}
    {%- endif -%}
    {%- set failures = [] -%}
    {%- set messages = [] -%}
    {%- set sync_result = [] -%}
    {%- for result in results -%}
        {%- if result.node.resource_type == 'model' and result.node.name == 'sync_data' -%}
            {%- do sync_result.append(result) -%}
        {%- endif -%}
        {%- if result.status in ['error', 'fail'] and result.node.resource_type != 'test' -%}
            {%- do failures.append(result.node.resource_type | replace('_', ' ') ~ ' '
                ~ result.node.name ~ ': ' ~ one_line_error(result.message or 'failed')) -%}
            {%- do messages.append(result.message or '') -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if sync_result | length == 0 or sync_result[0].status == 'success' -%}
        {{ return('') }}
    {%- endif -%}
    {%- set message = failures | join('; ') if failures else 'sync_data ' ~ sync_result[0].status -%}
    {%- set why_not = run_history_unwritable_reason(messages | join('\n')) -%}
    {%- if not why_not -%}
        {%- set why_not = run_history_shape_problems(['migration_runs']) | map(attribute='text') | join('; ') -%}
    {%- endif -%}
    {%- if why_not -%}
        {{ log("The failed run could not be recorded in migration_runs: " ~ why_not ~ ".", info=True) }}
        {{ return('') }}
    {%- endif -%}
    {%- do write_migration_runs('failed', {
        'processed_count': '0',
        'error_count': '0',
        'error_message': sql_string(message if message | length <= 500 else message[:497] ~ '...'),
    }, user_id=sync_user_id()) -%}
    {%- do adapter.commit() -%}
{%- endmacro %}

{#
    dbt's error message of a node as one plain line for migration_runs and
    the console: colour codes stripped, dbt's "Database Error in model x
    (path)" header shortened to "Database Error:", blank lines, "compiled code
    at" pointers and a unit test's diff dropped. The full text stays in dbt's
    log (logs/dbt.log) and its console output.
#}
{% macro one_line_error(message) -%}
    {%- set re = modules.re -%}
    {%- set plain = re.sub('\\x1b\\[[0-9;?]*[ -/]*[@-~]', '', message | string) -%}
    {%- set lines = [] -%}
    {%- for line in re.split('[\\r\\n]+', plain) -%}
        {%- set line = re.sub('\\s+', ' ', line) | trim -%}
        {%- if line and not line.lower().startswith('compiled code at') -%}
            {%- do lines.append(line) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not lines -%}{{ return('failed') }}{%- endif -%}
    {%- set header = re.match('^(.*\\b(?:Error|Exception|Failure))\\s+in\\s+\\S+\\s+\\S+\\s+\\(.*\\)$', lines[0]) -%}
    {%- if header and lines | length > 1 -%}
        {{ return(header.group(1) ~ ': ' ~ lines[1]) }}
    {%- endif -%}
    {{ return(lines[0].rstrip(':')) }}
{%- endmacro %}

{#
    Why a failed run's history cannot be written, from its error messages:
    the database is locked, read-only, full, damaged or not reachable, so the
    write would fail too (and, raised in on-run-end, end the run as a fake
    keyboard interrupt). '' when nothing says so.
#}
{% macro run_history_unwritable_reason(message) -%}
    {#- PostgreSQL's "lock timeout" is about sync_data only: the history can be written -#}
    {%- if 'database is locked' in message -%}
        {{ return('the database is locked') }}
    {%- endif -%}
    {#- SQLite's and PostgreSQL's words for a database that cannot be written now -#}
    {%- set signs = [
        'readonly database', 'read-only transaction', 'permission denied',
        'database or disk is full', 'no space left', 'disk i/o error',
        'unable to open database file', 'file is not a database', 'disk image is malformed'
    ] -%}
    {#- a file the run writes beside the database (write_lines) is not the database -#}
    {%- for line in modules.re.split('[\\r\\n]+', message) if 'could not write the file' not in line -%}
        {%- for sign in signs if sign in line.lower() -%}
            {{ return('the database could not be written (' ~ one_line_error(line) ~ ')') }}
        {%- endfor -%}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}
