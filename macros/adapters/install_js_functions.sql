{#
    on-run-start: the engine's own JSON and date functions. SQLite loads them
    from the project's C extension (profiles.yml), so there is nothing to do.
    PostgreSQL gets them as SQL and PL/pgSQL functions (js_number, js_json,
    js_json_is_valid, js_string, iso_from_unix_ms), created or replaced on
    every run, so a run always uses the definitions of its own checkout. They
    were checked against node's JSON.stringify by a differential fuzz (see
    docs/postgres.md, "What is engine-specific").
#}
{% macro install_js_functions() -%}
    {{ return(adapter.dispatch('install_js_functions')()) }}
{%- endmacro %}

{% macro sqlite__install_js_functions() -%}
{%- endmacro %}

{#-
    PostgreSQL: created in the work schema ("<schema>_work", first on the
    connection's search path), never in the schema the API owns, under a
    transaction-scoped advisory lock so that two runs starting together do not
    replace the same function at once.
-#}
{% macro postgres__install_js_functions() -%}
{%- set work_schema = adapter.dispatch('custom_schema_name')('work') -%}
create schema if not exists {{ work_schema }};
select pg_advisory_xact_lock(hashtext('sync_data_migration.install_js_functions'));
{% set functions %}{% raw %}
-- JavaScript serialisation rules for PostgreSQL (the SQLite C extension's
-- js_number / js_json, plus the ISO date of toISOString), in plain SQL and
-- PL/pgSQL. Idempotent: every object is created with "create or replace".
-- Needs PostgreSQL 12+ (shortest round-trip float8 output), UTF8 database.
--
--   js_number(double precision) -> text   Number.prototype.toString; 'null' for NaN/Infinity
--   js_number(text) -> text               the same for a decimal number text (JSON number
--                                         grammar), read as JavaScript reads it: correctly
--                                         rounded, overflow -> 'null', underflow -> '0'
--   js_json(text) -> text                 JSON.stringify(JSON.parse(text)); NULL if invalid
--   js_json_is_valid(text) -> boolean     JSON.parse would accept the text
--   js_string(text) -> text               JSON.stringify of a string ('null' for NULL)
--   iso_from_unix_ms(bigint) -> text      new Date(ms).toISOString(); NULL outside +-8.64e15
--   iso_from_unix_ms(double precision)    the same, truncating to whole ms like new Date(x)
--
-- float8 -> text is PostgreSQL's shortest round-trip output only while the
-- session's extra_float_digits is > 0 (the default, 1); js_number sets it to 1
-- for its own call. The bodies are written for standard_conforming_strings = on
-- (the default since 9.1): '\' is one backslash.
--
-- Two constants below are exact digit strings, of 2^1024 - 2^970 (the least
-- decimal JavaScript reads as Infinity) and of 5^1075 (for 2^-1075, half the
-- least double): Python's int prints them, e.g. str(2**1024 - 2**970).

-- The shortest decimal digits that read back as x, for an integral |x| >= 2^53,
-- as JavaScript picks them (Number::toString: fewest digits, then the one
-- closest to x, then the even one). PostgreSQL's Ryu output never writes a
-- decimal that lies exactly halfway between two doubles, even where reading it
-- back rounds (half to even) to x, so from 2^53 up, where such halfway points
-- are short integers, it can write more digits than needed:
-- 7e22 comes out as 7.0000000000000004e+22. Here the exact integer value of x
-- is rounded down and up to 1, 2, ... digits until one of those reads back as x.
-- Returns {digits, n} with |x| = 0.digits * 10^n.
create or replace function js_number__shortest_big(x double precision, max_digits integer)
returns text[]
language plpgsql
immutable
strict
parallel safe
as $$
declare
    ax double precision := abs(x);
    e2 integer;
    exact numeric;
    d integer;
    unit numeric;
    lo numeric;
    hi numeric;
    lo_ok boolean;
    hi_ok boolean;
    chosen numeric;
    t text;
begin
    if ax < 9.2e18 then
        exact := ax::bigint::numeric;
    else
        -- ax = m * 2^e2 with 2^52 <= m < 2^53
        e2 := floor(ln(ax) / ln(2))::integer - 52;
        if ax / 2::double precision ^ e2 >= 9007199254740992 then
            e2 := e2 + 1;
        elsif ax / 2::double precision ^ e2 < 4503599627370496 then
            e2 := e2 - 1;
        end if;
        exact := (ax / 2::double precision ^ e2)::bigint::numeric * trunc(2::numeric ^ e2);
    end if;
    d := length(exact::text);
    for p in 1..max_digits loop
        unit := ('1e' || (d - p)::text)::numeric;
        lo := div(exact, unit) * unit;
        hi := lo + unit;
        lo_ok := lo::double precision = ax;
        -- (above that, hi would overflow the cast; 31 digits are never needed)
        hi_ok := hi < 1.797693134862315807937289714053e308 and hi::double precision = ax;
        if lo_ok or hi_ok then
            if lo_ok and hi_ok then
                chosen := case
                    when exact - lo < hi - exact then lo
                    when exact - lo > hi - exact then hi
                    when div(exact, unit) % 2 = 0 then lo
                    else hi
                end;
            elsif lo_ok then
                chosen := lo;
            else
                chosen := hi;
            end if;
            t := trunc(chosen)::text;
            return array[rtrim(t, '0'), length(t)::text];
        end if;
    end loop;
    return null;
end;
$$;

-- Number.prototype.toString of a double, from PostgreSQL's shortest round-trip
-- output, which has the same digits (but see js_number__shortest_big) in
-- another layout: plain for 1e-4 <= |x| < 1e15, else d.ddde+XX / d.ddde-XX.
-- JavaScript is plain for 1e-7 <= |x| < 1e21 and writes exponents without
-- leading zeros.
create or replace function js_number(x double precision)
returns text
language plpgsql
immutable
strict
parallel safe
set extra_float_digits = 1
as $$
declare
    s text;
    e_pos integer;
    digits text;
    n integer;
    big text[];
    plain text;
begin
    if x = 0 then
        return '0';  -- -0 too
    end if;
    if x = 'NaN'::double precision or x = 'Infinity'::double precision
        or x = '-Infinity'::double precision then
        return 'null';
    end if;
    s := x::text;
    e_pos := strpos(s, 'e');
    if e_pos = 0 then
        return s;  -- 1e-4 <= |x| < 1e15: the same layout as JavaScript's
    end if;
    -- |x| = 0.digits * 10^n
    digits := replace(ltrim(left(s, e_pos - 1), '-'), '.', '');
    n := substr(s, e_pos + 1)::integer + 1;
    if abs(x) >= 9007199254740992 and length(digits) > 1 then
        big := js_number__shortest_big(x, length(digits));
        digits := big[1];
        n := big[2]::integer;
    end if;
    if n > 21 or n < -5 then
        plain := left(digits, 1)
            || case when length(digits) > 1 then '.' || substr(digits, 2) else '' end
            || 'e' || case when n > 0 then '+' else '-' end || abs(n - 1)::text;
    elsif n <= 0 then
        plain := '0.' || repeat('0', -n) || digits;
    elsif length(digits) <= n then
        plain := digits || repeat('0', n - length(digits));
    else
        plain := left(digits, n) || '.' || substr(digits, n + 1);
    end if;
    if x < 0 then
        return '-' || plain;
    end if;
    return plain;
end;
$$;

-- A decimal number text as JavaScript's Number(text) reads it, written by
-- js_number. float8in is correctly rounded (strtod) but raises an error where
-- JavaScript gives Infinity (overflow) or 0 (underflow to zero), so texts that
-- could get there are scaled first: value = 0.<sig> * 10^e.
-- NULL for a text that is not a decimal number.
create or replace function js_number(x text)
returns text
language plpgsql
immutable
strict
parallel safe
as $$
declare
    e_pos integer;
    mantissa text;
    exp_text text;
    sign text := '';
    int_part text;
    frac_part text;
    all_digits text;
    sig text;
    e bigint;
begin
    -- (no regexp_match here: capture groups make PostgreSQL's regex engine
    -- backtrack, some 20 us a call, where a plain ~ test runs as a DFA)
    -- Integers below 1e15 are exact and written as they are (but -0 is 0).
    if length(x) <= 15 and x ~ '^-?(0|[1-9][0-9]*)$' then
        if x = '-0' then
            return '0';
        end if;
        return x;
    end if;
    if x !~ '^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$' then
        return null;
    end if;
    e_pos := greatest(strpos(x, 'e'), strpos(x, 'E'));
    if e_pos = 0 and length(x) <= 300 then
        return js_number(x::double precision);  -- |x| in [1e-299, 1e300) or 0
    end if;
    if e_pos = 0 then
        mantissa := x;
        exp_text := '0';
    else
        mantissa := left(x, e_pos - 1);
        exp_text := substr(x, e_pos + 1);
    end if;
    if left(mantissa, 1) in ('-', '+') then
        sign := left(mantissa, 1);
        mantissa := substr(mantissa, 2);
    end if;
    int_part := split_part(mantissa, '.', 1);
    frac_part := split_part(mantissa, '.', 2);
    all_digits := int_part || frac_part;
    sig := ltrim(all_digits, '0');
    if sig = '' then
        return '0';
    end if;
    if length(ltrim(ltrim(exp_text, '+-'), '0')) > 12 then
        -- |exponent| >= 1e12: no digit string here can bring it back in range
        if left(exp_text, 1) = '-' then
            return '0';
        end if;
        return 'null';
    end if;
    -- value = 0.sig * 10^e
    e := exp_text::bigint + length(int_part) - (length(all_digits) - length(sig));
    sig := rtrim(sig, '0');
    if e >= 310 then
        return 'null';
    elsif e <= -324 then
        return '0';
    elsif e = 309 and sig >= (
        '179769313486231580793728971405303415079934132710037826936173778980444968'
        || '292764750946649017977587207096330286416692887910946555547851940402630657'
        || '488671505820681908902000708383676273854845817711531764475730270069855571'
        || '366959622842914819860834936475292719074168444365510704342711559699508093'
        || '042880177904174497792'
    ) collate "C" then
        -- >= 2^1024 - 2^970, halfway between the largest double and 2^1024
        return 'null';
    elsif e = -323 and sig <= (
        '247032822920623272088284396434110686182529901307162382212792841250337753'
        || '635104375932649918180817996189898282347722858865463328355177969898199387'
        || '398005390939063150356595155702263922908583924491051844359318028499365361'
        || '525003193704576782492193656236698636584807570015857692699037063119282795'
        || '585513329278343384093519780155312465972635795746227664652728272200563740'
        || '064854999770965994704540208281662262378573934507363390079677619305775067'
        || '401763246736009689513405355374585166611342237666786041621596804619144672'
        || '918403005300575308490487653917113865916462395249126236538818796362393732'
        || '804238910186723484976682350898633885879256283027559956575244555072551893'
        || '136908362547791869486679949683240497058210285131854513962138377228261454'
        || '37693412532098591327667236328125'
    ) collate "C" then
        -- <= 2^-1075, halfway between 0 and the smallest subnormal (ties to even: 0)
        return '0';
    end if;
    return js_number((case when sign = '-' then '-' else '' end || '0.' || sig || 'e' || e::text)::double precision);
end;
$$;

-- JSON.stringify of a string; NULL gives null. PostgreSQL's JSON escaping is
-- JavaScript's: \" \\ \b \f \n \r \t, other controls as lower-case \u00xx.
create or replace function js_string(x text)
returns text
language sql
stable  -- to_json is stable; an immutable SQL function calling it is not inlined
parallel safe
as $$
    select coalesce(to_json(x)::text, 'null')
$$;

-- A json value re-serialised (objects and arrays recursively). Object keys in
-- JavaScript's order: array-index keys ("0".."4294967294") first in numeric
-- order, then the others in order of first appearance; a repeated key keeps
-- its first position and its last value. The cheap query (keys as given)
-- serves objects without a repeated or array-index key, the common case.
create or replace function js_json__walk(v json)
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

-- One JSON value (a json slice as PostgreSQL hands it out: strings and
-- numbers as written) re-serialised. Inlined into js_json__walk's queries.
create or replace function js_json__member(v json)
returns text
language sql
stable  -- to_json is stable; an immutable SQL function calling it is not inlined
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

-- The marker the escape-preserving path uses (U+FFFF, a noncharacter).
-- In the encoded text, marker + 'M' is a literal U+FFFF, marker + '0' stands
-- for \u0000 and marker + 'dxxx' for a lone surrogate \udxxx: PostgreSQL's
-- JSON functions refuse to decode those two escapes into text.
create or replace function js_json__encode_escapes(t text)
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

create or replace function js_json__decode_escapes(t text)
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

-- True when t (valid JSON, trimmed, without a backslash) is already what
-- JSON.stringify would write: no blank outside strings; every number written
-- as js_number writes it, which holds for 0, an integer of up to 15 digits, and
-- a decimal of up to 15 significant digits in [1e-6, 1e15) without a trailing
-- zero (such a decimal reads as a double whose shortest digits are its own);
-- no key that could be an array index; no object with a repeated key (counted
-- with jsonb, which keeps only the last of them). The tests are conservative:
-- a run of 16 digits or "0.000000" inside a string also sends the text to
-- js_json__walk, which is only slower.
-- (Plain ~ tests: no capture groups, no lookahead, which cost PostgreSQL's regex
-- engine some 10 us a call.)
create or replace function js_json__is_canonical(t text)
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

-- JSON.stringify(JSON.parse(t)), or NULL when t is not JSON.
create or replace function js_json(t text)
returns text
language plpgsql
immutable
strict
parallel restricted  -- an exception block: no subtransactions in parallel workers
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

-- Whether JSON.parse accepts t, and js_json can write it. Nesting deeper than
-- 500 arrays/objects is refused: js_json's walk exhausts PostgreSQL's default
-- stack (max_stack_depth 2MB) at about 800 levels, which would fail the whole
-- run, where one rejected row is what the project promises. (SQLite's
-- json_valid() refuses nesting deeper than 1000; such rows are rejected on
-- PostgreSQL only.)
create or replace function js_json_is_valid(t text)
returns boolean
language plpgsql
immutable
strict
parallel restricted  -- an exception block: no subtransactions in parallel workers
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

-- new Date(ms).toISOString(): proleptic Gregorian, UTC, years outside
-- 0000-9999 as +yyyyyy / -yyyyyy. NULL outside Date's range (+-8.64e15 ms),
-- where toISOString throws. Days to civil date: H. Hinnant's algorithm,
-- shifted by 1000 400-year cycles so every division is of a positive number.
create or replace function iso_from_unix_ms(ms bigint)
returns text
language plpgsql
immutable
strict
parallel safe
as $$
declare
    -- 1000 cycles of 146097 days, in ms
    shifted bigint := ms + 12622780800000000;
    z bigint;
    doe bigint;
    yoe bigint;
    doy bigint;
    mp bigint;
    y bigint;
    m bigint;
    d bigint;
    tod bigint;
begin
    if ms < -8640000000000000 or ms > 8640000000000000 then
        return null;
    end if;
    z := shifted / 86400000 + 719468;  -- days since 0000-03-01, plus 1000 cycles
    tod := shifted % 86400000;
    doe := z % 146097;
    yoe := (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy := doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp := (5 * doy + 2) / 153;
    d := doy - (153 * mp + 2) / 5 + 1;
    m := case when mp < 10 then mp + 3 else mp - 9 end;
    y := yoe + (z / 146097 - 1000) * 400 + case when m <= 2 then 1 else 0 end;
    return
        case
            when y between 0 and 9999 then lpad(y::text, 4, '0')
            when y < 0 then '-' || lpad((-y)::text, 6, '0')
            else '+' || lpad(y::text, 6, '0')
        end
        || '-' || lpad(m::text, 2, '0')
        || '-' || lpad(d::text, 2, '0')
        || 'T' || lpad((tod / 3600000)::text, 2, '0')
        || ':' || lpad((tod / 60000 % 60)::text, 2, '0')
        || ':' || lpad((tod / 1000 % 60)::text, 2, '0')
        || '.' || lpad((tod % 1000)::text, 3, '0') || 'Z';
end;
$$;

-- new Date(x) for a non-integral x: TimeClip truncates toward zero.
create or replace function iso_from_unix_ms(ms double precision)
returns text
language sql
immutable
parallel safe
as $$
    select
        case
            when ms between -8640000000000000 and 8640000000000000
                then iso_from_unix_ms(trunc(ms)::bigint)
        end
$$;
{% endraw %}{% endset %}
{{ functions | replace('create or replace function ', 'create or replace function ' ~ work_schema ~ '.') }}
{%- endmacro %}
