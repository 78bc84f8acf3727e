{#
    on-run-start: a var name dbt does not know is an error, not a silent no-op.
    dbt ignores a var nobody reads, so a misspelt filter (`entity_type: goal`,
    `userid: u_1`) would widen the run to every row; stop before anything runs.
#}
{% macro check_run_vars() -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set given = invocation_args_dict.get('vars') or {} -%}
    {%- if given is string -%}
        {%- set given = fromyaml(given) or {} -%}
    {%- endif -%}
    {%- set known = known_run_vars() -%}
    {%- set unknown = given.keys() | reject('in', known) | list -%}
    {#- `{user_id: $uid}` with uid unset is YAML's null: refused like '' -#}
    {%- for name in ['user_id', 'entity_types'] if name in given
        and (given[name] is none or given[name] | string | trim in ['', '[]']) -%}
        {{ exceptions.raise_compiler_error(
            "The var " ~ name ~ " is given but empty, which would widen the run to every "
            ~ ("user" if name == 'user_id' else "entity type") ~ "; nothing was run. "
            ~ "Leave it out to migrate everything, or give a value.") }}
    {%- endfor -%}
    {%- if unknown -%}
        {%- set hints = [] -%}
        {%- for name in unknown -%}
            {%- for candidate in known
                if candidate[:4] == (name | lower)[:4] and candidate != name -%}
                {%- do hints.append("'" ~ name ~ "' -> '" ~ candidate ~ "'") -%}
            {%- endfor -%}
        {%- endfor -%}
        {{ exceptions.raise_compiler_error(
            "Unknown var(s) in --vars: " ~ unknown | join(', ')
            ~ ". dbt would ignore them and the run would widen to every row, so "
            ~ "nothing was run. The vars this project reads are: "
            ~ known | join(', ') ~ "."
            ~ (" Did you mean " ~ hints | join(', ') ~ "?" if hints else "")
        ) }}
    {%- endif -%}
{%- endmacro %}

{#
    Every var the project reads, with or without a default in
    dbt_project.yml; a test keeps this list and dbt_project.yml in step.
#}
{% macro known_run_vars() -%}
    {{ return([
        'busy_timeout_ms',
        'compare',
        'd1_row_limit',
        'diff_csv',
        'dry_run',
        'dry_run_csv',
        'entity_types',
        'on_conflict',
        'reject_threshold',
        'scratch_database',
        'user_id',
    ]) }}
{%- endmacro %}
