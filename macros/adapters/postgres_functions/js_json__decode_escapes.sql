{#
    Undoes js_json__encode_escapes on js_json__walk's output, writing the
    escapes PostgreSQL's JSON functions would not decode back as JSON escapes.
#}
{% macro postgres_function__js_json__decode_escapes(schema) -%}
create or replace function {{ schema }}.js_json__decode_escapes(t text)
returns text
language sql
immutable
strict
parallel safe
as $$
    select coalesce(string_agg(
        x.m[1]
        || case
            when x.m[2] is null then ''
            when x.m[2] = 'M' then chr(65535)
            when x.m[2] = '0' then '\u0000'
            else '\u' || x.m[2]
        end,
        '' order by x.ord
    ), '')
    from regexp_matches(
        t, '([^' || chr(65535) || ']*)(?:' || chr(65535) || '(M|0|d[0-9a-f]{3}))?', 'g'
    ) with ordinality as x (m, ord)
$$;
{%- endmacro %}
