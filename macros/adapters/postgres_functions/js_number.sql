{#
    js_number(x double precision): Number.prototype.toString of a double, from
    PostgreSQL's shortest round-trip output, which has the same digits (but see
    js_number__shortest_big) in another layout: plain for 1e-4 <= |x| < 1e15,
    else d.ddde+XX / d.ddde-XX. JavaScript is plain for 1e-7 <= |x| < 1e21 and
    writes exponents without leading zeros.

    js_number(x text): a decimal number text as JavaScript's Number(text) reads
    it, written by js_number(double precision). float8in is correctly rounded
    (strtod) but raises an error where JavaScript gives Infinity (overflow) or
    0 (underflow to zero), so texts that could get there are scaled first:
    value = 0.<sig> * 10^e. NULL for a text that is not a decimal number.
    Its two constants are exact digit strings, of 2^1024 - 2^970 (the least
    decimal JavaScript reads as Infinity) and of 5^1075 (for 2^-1075, half the
    least double): Python's int prints them, e.g. str(2**1024 - 2**970).
#}
{% macro postgres_function__js_number(schema) -%}
create or replace function {{ schema }}.js_number(x double precision)
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

create or replace function {{ schema }}.js_number(x text)
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
{%- endmacro %}
