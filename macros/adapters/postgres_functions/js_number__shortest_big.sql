{#
    The shortest decimal digits that read back as x, for an integral
    |x| >= 2^53, as JavaScript picks them (Number::toString: fewest digits,
    then the one closest to x, then the even one). PostgreSQL's Ryu output
    never writes a decimal that lies exactly halfway between two doubles, even
    where reading it back rounds (half to even) to x, so from 2^53 up, where
    such halfway points are short integers, it can write more digits than
    needed: 7e22 comes out as 7.0000000000000004e+22. Here the exact integer
    value of x is rounded down and up to 1, 2, ... digits until one of those
    reads back as x. Returns {digits, n} with |x| = 0.digits * 10^n.
#}
{% macro postgres_function__js_number__shortest_big(schema) -%}
create or replace function {{ schema }}.js_number__shortest_big(
    x double precision, max_digits integer
)
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
{%- endmacro %}
