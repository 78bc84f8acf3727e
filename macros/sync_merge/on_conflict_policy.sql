{#
    The run's conflict policy (var on_conflict): backend_wins (the default)
    writes the backend's document, api_wins keeps the API's. Either way the
    conflict is recorded in migration_conflicts.
#}
{% macro on_conflict_policy() -%}
    {%- set policy = var('on_conflict', 'backend_wins') -%}
    {%- if policy not in ['backend_wins', 'api_wins'] -%}
        {{ exceptions.raise_compiler_error(
            "var on_conflict is '" ~ policy ~ "'; use backend_wins (the default: the "
            ~ "backend's document is written) or api_wins (the API's edit is kept). "
            ~ "Nothing was migrated.") }}
    {%- endif -%}
    {{ return(policy) }}
{%- endmacro %}
