{#
    True when t (valid JSON, trimmed, without a backslash) is already what
    JSON.stringify would write: no blank outside strings; every number written
    as js_number writes it, which holds for 0, an integer of up to 15 digits,
    and a decimal of up to 15 significant digits in [1e-6, 1e15) without a
    trailing zero (such a decimal reads as a double whose shortest digits are
    its own); no key that could be an array index; no object with a repeated
    key (counted with jsonb, which keeps only the last of them). The tests are
    conservative: a run of 16 digits or "0.000000" inside a string also sends
    the text to js_json__walk, which is only slower.
    (Plain ~ tests: no capture groups, no lookahead, which cost PostgreSQL's
    regex engine some 10 us a call.)
#}
{% macro postgres_function__js_json__is_canonical(schema) -%}
create or replace function {{ schema }}.js_json__is_canonical(t text)
returns boolean
language plpgsql
immutable
strict
parallel safe
as $$
declare
    pairs integer;
    b text;
begin
    if t !~ '^([^"0-9 \t\n\r-]|"[^"]*"|(0|-?[1-9][0-9]*(\.[0-9]*[1-9])?|-?0\.[0-9]*[1-9])([],}]|$))*$'
        or t ~ '[1-9][0-9.]{15}|(^|[^0-9])0\.0{6}|"(0|[1-9][0-9]{0,9})":' then
        return false;
    end if;
    pairs := (length(t) - length(replace(t, '":', ''))) / 2;
    if pairs <= 1 then
        return true;
    end if;
    b := t::jsonb::text;
    return (length(b) - length(replace(b, '": ', ''))) / 3 = pairs;
end;
$$;
{%- endmacro %}
