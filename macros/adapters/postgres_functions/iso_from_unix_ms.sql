{#
    iso_from_unix_ms(ms bigint): new Date(ms).toISOString(), proleptic
    Gregorian, UTC, years outside 0000-9999 as +yyyyyy / -yyyyyy. NULL outside
    Date's range (+-8.64e15 ms), where toISOString throws. Days to civil date:
    H. Hinnant's algorithm, shifted by 1000 400-year cycles so every division
    is of a positive number.

    iso_from_unix_ms(ms double precision): new Date(x) for a non-integral x,
    where TimeClip truncates toward zero.
#}
{% macro postgres_function__iso_from_unix_ms(schema) -%}
create or replace function {{ schema }}.iso_from_unix_ms(ms bigint)
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

create or replace function {{ schema }}.iso_from_unix_ms(ms double precision)
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
{%- endmacro %}
