{#
    One JSON value (a json slice as PostgreSQL hands it out: strings and
    numbers as written) re-serialised. Inlined into js_json__walk's queries.
#}
{% macro postgres_function__js_json__member(schema) -%}
create or replace function {{ schema }}.js_json__member(v json)
returns text
language sql
-- to_json is stable; an immutable SQL function calling it is not inlined
stable
parallel safe
as $$
    select
        case json_typeof(v)
            when 'string' then
                case
                    when strpos(v::text, '\') = 0 then v::text
                    else to_json(v #>> '{}')::text
                end
            when 'number' then js_number(v::text)
            when 'object' then js_json__walk(v)
            when 'array' then js_json__walk(v)
            else v::text
        end
$$;
{%- endmacro %}
