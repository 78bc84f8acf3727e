{#
    A json value re-serialised (objects and arrays recursively). Object keys in
    JavaScript's order: array-index keys ("0".."4294967294") first in numeric
    order, then the others in order of first appearance; a repeated key keeps
    its first position and its last value. The cheap query (keys as given)
    serves objects without a repeated or array-index key, the common case.
#}
{% macro postgres_function__js_json__walk(schema) -%}
create or replace function {{ schema }}.js_json__walk(v json)
returns text
language plpgsql
immutable
strict
parallel safe
as $$
declare
    kind text := json_typeof(v);
    result text;
    keys text[];
    reorder boolean := false;
begin
    if kind = 'object' then
        select
            '{' || coalesce(string_agg(
                to_json(e.key)::text || ':' || js_json__member(e.value), ',' order by e.ord
            ), '') || '}',
            array_agg(e.key order by e.ord)
        into result, keys
        from json_each(v) with ordinality as e (key, value, ord);
        if cardinality(keys) > 1 then
            if array_to_string(keys, chr(1))
                ~ ('(^|' || chr(1) || ')(0|[1-9][0-9]{0,9})(' || chr(1) || '|$)') then
                reorder := true;  -- maybe an array index (chr(1) in a key: no harm)
            elsif cardinality(keys) <= 64 then
                for i in 2..cardinality(keys) loop
                    if array_position(keys, keys[i]) < i then
                        reorder := true;
                        exit;
                    end if;
                end loop;
            else
                reorder := (select count(distinct k collate "C") from unnest(keys) as k)
                    < cardinality(keys);
            end if;
        end if;
        if not reorder then
            return result;
        end if;
        select '{' || coalesce(string_agg(
            to_json(d.key)::text || ':' || js_json__member(d.value), ','
            order by d.array_index, d.first_ord
        ), '') || '}'
        into result
        from (
            select distinct on (e.key collate "C")
                e.key,
                e.value,
                min(e.ord) over (partition by e.key collate "C") as first_ord,
                case
                    when e.key ~ '^(0|[1-9][0-9]{0,9})$' and e.key::bigint < 4294967295
                        then e.key::bigint
                end as array_index
            from json_each(v) with ordinality as e (key, value, ord)
            order by e.key collate "C", e.ord desc
        ) as d;
        return result;
    elsif kind = 'array' then
        select '[' || coalesce(string_agg(js_json__member(e.value), ',' order by e.ord), '') || ']'
        into result
        from json_array_elements(v) with ordinality as e (value, ord);
        return result;
    end if;
    return js_json__member(v);
end;
$$;
{%- endmacro %}
