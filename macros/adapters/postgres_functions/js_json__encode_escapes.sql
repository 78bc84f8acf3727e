{#
    The marker the escape-preserving path uses (U+FFFF, a noncharacter).
    In the encoded text, marker + 'M' is a literal U+FFFF, marker + '0' stands
    for \u0000 and marker + 'dxxx' for a lone surrogate \udxxx: PostgreSQL's
    JSON functions refuse to decode those two escapes into text.
#}
{% macro postgres_function__js_json__encode_escapes(schema) -%}
create or replace function {{ schema }}.js_json__encode_escapes(t text)
returns text
language sql
immutable
strict
parallel safe
as $$
    select coalesce(string_agg(
        replace(r.m[1], chr(65535), chr(65535) || 'M')
        || case
            when r.m[2] is null then ''
            when r.m[3] is null then r.m[2]
            when lower(r.m[3]) = '0000' then chr(65535) || '0'
            when lower(r.m[3]) = 'ffff' then chr(65535) || 'M'
            when lower(r.m[3]) ~ '^d[89ab]'
                and not coalesce(r.next_m[1] = '' and lower(r.next_m[3]) ~ '^d[c-f]', false)
                then chr(65535) || lower(r.m[3])
            when lower(r.m[3]) ~ '^d[c-f]'
                and not coalesce(r.m[1] = '' and lower(r.prev_m[3]) ~ '^d[89ab]', false)
                then chr(65535) || lower(r.m[3])
            else r.m[2]
        end,
        '' order by r.ord
    ), '')
    from (
        select
            x.m,
            x.ord,
            lead(x.m) over (order by x.ord) as next_m,
            lag(x.m) over (order by x.ord) as prev_m
        from regexp_matches(t, '([^\\]*)(\\(?:u([0-9a-fA-F]{4})|.))?', 'g')
            with ordinality as x (m, ord)
    ) as r
$$;
{%- endmacro %}
