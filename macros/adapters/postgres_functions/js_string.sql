{#
    JSON.stringify of a string; NULL gives null. PostgreSQL's JSON escaping is
    JavaScript's: \" \\ \b \f \n \r \t, other controls as lower-case \u00xx.
#}
{% macro postgres_function__js_string(schema) -%}
create or replace function {{ schema }}.js_string(x text)
returns text
language sql
-- to_json is stable; an immutable SQL function calling it is not inlined
stable
parallel safe
as $$
    select coalesce(to_json(x)::text, 'null')
$$;
{%- endmacro %}
