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

{#- SQLite: datetime_text_ms() of the project's C extension
    (extensions/sqlite/row_functions.c), which reads the same two forms. -#}
{% macro sqlite__unix_ms_from_datetime_text(expr) -%}
datetime_text_ms(cast({{ expr }} as text))
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
