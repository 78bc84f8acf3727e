{#
    Whether JSON.parse accepts t, and js_json can write it. Nesting deeper than
    500 arrays/objects is refused: js_json's walk exhausts PostgreSQL's default
    stack (max_stack_depth 2MB) at about 800 levels, which would fail the whole
    run, where one rejected row is what the project promises. (SQLite's
    json_valid() refuses nesting deeper than 1000; such rows are rejected on
    PostgreSQL only.)
#}
{% macro postgres_function__js_json_is_valid(schema) -%}
create or replace function {{ schema }}.js_json_is_valid(t text)
returns boolean
language plpgsql
immutable
strict
-- an exception block: no subtransactions in parallel workers
parallel restricted
as $$
declare
    v json;
    depth integer := 0;
    in_string boolean := false;
    escaped boolean := false;
    c text;
begin
    v := t::json;
    -- only a text with over 500 brackets can nest that deep: count exactly
    if length(t) - length(translate(t, '[{', '')) > 500 then
        foreach c in array regexp_split_to_array(t, '') loop
            if in_string then
                if escaped then
                    escaped := false;
                elsif c = '\' then
                    escaped := true;
                elsif c = '"' then
                    in_string := false;
                end if;
            elsif c = '"' then
                in_string := true;
            elsif c in ('[', '{') then
                depth := depth + 1;
                if depth > 500 then
                    return false;
                end if;
            elsif c in (']', '}') then
                depth := depth - 1;
            end if;
        end loop;
    end if;
    return true;
exception
    when data_exception or program_limit_exceeded then
        return false;
end;
$$;
{%- endmacro %}
