{#
    JSON.stringify(JSON.parse(t)), or NULL when t is not JSON.
#}
{% macro postgres_function__js_json(schema) -%}
create or replace function {{ schema }}.js_json(t text)
returns text
language plpgsql
immutable
strict
-- an exception block: no subtransactions in parallel workers
parallel restricted
as $$
declare
    v json;
begin
    -- JSON whitespace is exactly these four, in PostgreSQL and JavaScript.
    t := btrim(t, e' \t\n\r');
    begin
        v := t::json;
    exception
        -- 22P02 bad JSON; 54001 nesting deeper than the stack allows
        when data_exception or program_limit_exceeded then
            return null;
    end;
    if strpos(t, '\') = 0 then
        -- Strings without escapes are "[^"]*": drop the blanks between tokens,
        -- and a text that is then already JSON.stringify's is the answer.
        if t ~ '[ \t\n\r]' then
            t := regexp_replace(t, '("[^"]*")|[ \t\n\r]+', '\1', 'g');
        end if;
        if js_json__is_canonical(t) then
            return t;
        end if;
    elsif t ~ '\\u(0000|[dD][89abcdefABCDEF])' then
        return js_json__decode_escapes(js_json__walk(js_json__encode_escapes(t)::json));
    end if;
    return js_json__walk(v);
end;
$$;
{%- endmacro %}
