{#
    A practice_sessions DATETIME text as Unix ms, or null when the text is
    unreadable. Two forms are read, exactly (contract, "Reading the source
    values"): 'YYYY-MM-DD HH:MM:SS[.f...]' (UTC) and
    'YYYY-MM-DDTHH:MM:SS[.f...]' followed by 'Z', '+HH:MM', '-HH:MM' or nothing
    (UTC). Fractions are truncated to milliseconds; the date and time must name
    a real instant.
#}
{% macro unix_ms_from_datetime_text(expr) -%}
    {{ return(adapter.dispatch('unix_ms_from_datetime_text')(expr)) }}
{%- endmacro %}

{% macro sqlite__unix_ms_from_datetime_text(expr) -%}
(
    select
        case
            when
                fields.is_well_formed
                and {{ names_a_real_instant('fields') }}
                then cast(
                    strftime('%s', printf('%04d-%02d-%02d', fields.y, fields.mo, fields.d))
                    as integer
                ) * 1000
                + fields.hh * 3600000
                + fields.mi * 60000
                + fields.ss * 1000
                + fields.ms
                - fields.offset_sign
                * (fields.offset_hh * 60 + fields.offset_mi) * 60000
        end
    from (
        select
            parts.base
            glob '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]?[0-9][0-9]:[0-9][0-9]:[0-9][0-9]'
            and parts.fraction not glob '*[^0-9]*'
            and (parts.has_dot = 0 or parts.fraction != '')
            and (
                (parts.sep = ' ' and parts.zone = '')
                or (
                    parts.sep = 'T'
                    and (
                        parts.zone in ('', 'Z')
                        or (
                            length(parts.zone) = 6
                            and parts.zone glob '[+-][0-9][0-9]:[0-9][0-9]'
                        )
                    )
                )
            ) as is_well_formed,
            cast(substr(parts.base, 1, 4) as integer) as y,
            cast(substr(parts.base, 6, 2) as integer) as mo,
            cast(substr(parts.base, 9, 2) as integer) as d,
            cast(substr(parts.base, 12, 2) as integer) as hh,
            cast(substr(parts.base, 15, 2) as integer) as mi,
            cast(substr(parts.base, 18, 2) as integer) as ss,
            cast(substr(parts.fraction || '000', 1, 3) as integer) as ms,
            case when parts.zone like '-%' then -1 else 1 end as offset_sign,
            coalesce(cast(nullif(substr(parts.zone, 2, 2), '') as integer), 0)
            as offset_hh,
            coalesce(cast(nullif(substr(parts.zone, 5, 2), '') as integer), 0)
            as offset_mi
        from (
            select
                substr(tail.t, 1, 19) as base,
                substr(tail.t, 11, 1) as sep,
                tail.has_dot,
                case
                    when tail.has_dot = 1
                        then substr(
                            tail.after_dot,
                            1,
                            length(tail.after_dot)
                            - length(ltrim(tail.after_dot, '0123456789'))
                        )
                    else ''
                end as fraction,
                case
                    when tail.has_dot = 1
                        then ltrim(tail.after_dot, '0123456789')
                    else tail.rest
                end as zone
            from (
                select
                    raw.t,
                    substr(raw.t, 20) as rest,
                    substr(raw.t, 20, 1) = '.' as has_dot,
                    substr(raw.t, 21) as after_dot
                from (select cast({{ expr }} as text) as t) as raw
            ) as tail
        ) as parts
    ) as fields
)
{%- endmacro %}

{#-
    PostgreSQL: the same two forms, read with a regular expression. A text
    that reads as a number (blanks, sign, fraction and exponent allowed) is
    read as ms, as SQLite's NUMERIC affinity stores such a text as a number. Days come from the proleptic Gregorian calendar by arithmetic
    (years 0000-9999 included, which PostgreSQL dates cannot all name).
-#}
{% macro postgres__unix_ms_from_datetime_text(expr) -%}
(
    select
        case
            when numeric_text.n is not null
                then
                    case
                        when abs(numeric_text.n) <= 8640000000000000
                            then cast(trunc(numeric_text.n) as bigint)
                    end
            when {{ names_a_real_instant('fields') }}
                then (
                    (
                        floor((fields.y - (fields.mo <= 2)::int) / 400.0) * 146097
                        + (
                            (fields.y - (fields.mo <= 2)::int)
                            - floor((fields.y - (fields.mo <= 2)::int) / 400.0) * 400
                        ) * 365
                        + floor((
                            (fields.y - (fields.mo <= 2)::int)
                            - floor((fields.y - (fields.mo <= 2)::int) / 400.0) * 400
                        ) / 4)
                        - floor((
                            (fields.y - (fields.mo <= 2)::int)
                            - floor((fields.y - (fields.mo <= 2)::int) / 400.0) * 400
                        ) / 100)
                        + floor((153 * (fields.mo + case when fields.mo > 2 then -3 else 9 end) + 2) / 5)
                        + fields.d - 1
                        - 719468
                    ) * 86400000
                    + fields.hh * 3600000
                    + fields.mi * 60000
                    + fields.ss * 1000
                    + fields.ms
                    - fields.offset_sign
                    * (fields.offset_hh * 60 + fields.offset_mi) * 60000
                )::bigint
        end
    from (
        select
            case
                when raw.t ~ '^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,4})?\s*$'
                    then cast(raw.t as numeric)
            end as n,
            regexp_match(
                raw.t,
                '^([0-9]{4})-([0-9]{2})-([0-9]{2})(?: |T)([0-9]{2}):([0-9]{2}):([0-9]{2})'
                || '(?:\.([0-9]+))?((?:Z|[+-][0-9]{2}:[0-9]{2})?)$'
            ) as m,
            raw.t
        from (select cast({{ expr }} as text) as t) as raw
        {#- a fence: without it the planner inlines m and runs the
            regular expression once per capture group it reads #}
        offset 0
    ) as numeric_text
    left join lateral (
        select
            numeric_text.m[1]::int as y,
            numeric_text.m[2]::int as mo,
            numeric_text.m[3]::int as d,
            numeric_text.m[4]::int as hh,
            numeric_text.m[5]::int as mi,
            numeric_text.m[6]::int as ss,
            substr(coalesce(numeric_text.m[7], '') || '000', 1, 3)::int as ms,
            case when numeric_text.m[8] like '-%' then -1 else 1 end as offset_sign,
            coalesce(nullif(substr(numeric_text.m[8], 2, 2), '')::int, 0) as offset_hh,
            coalesce(nullif(substr(numeric_text.m[8], 5, 2), '')::int, 0) as offset_mi
        where
            numeric_text.m is not null
            -- the space form carries no zone; a zone needs the T form
            and (substr(numeric_text.t, 11, 1) = 'T' or numeric_text.m[8] = '')
    ) as fields on true
)
{%- endmacro %}
