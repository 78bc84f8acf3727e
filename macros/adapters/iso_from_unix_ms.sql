{#
    ISO(x) of the contract: JavaScript's new Date(x).toISOString() for a whole
    number of milliseconds within Date's range, years outside 0000-9999
    included (toISOString writes them as +275760 or -000001). strftime only
    knows 0000-9999, and the Gregorian calendar repeats every 400 years, so
    the instant is moved by whole 400-year cycles into 2000-2399, formatted
    there, and the cycles are added back to the year.
#}
{% macro iso_from_unix_ms(expr) -%}
    {{ return(adapter.dispatch('iso_from_unix_ms')(expr)) }}
{%- endmacro %}

{% macro sqlite__iso_from_unix_ms(expr) -%}
    {#- 2000-01-01T00:00:00Z in ms, and 400 Gregorian years (146097 days) in ms -#}
    {%- set y2000 = 946684800000 -%}
    {%- set cycle = 12622780800000 -%}
(
    select
        case
            when cycles.y between 0 and 9999 then printf('%04d', cycles.y)
            when cycles.y < 0 then '-' || printf('%06d', -cycles.y)
            else '+' || printf('%06d', cycles.y)
        end
        || strftime('-%m-%dT%H:%M:%S', cycles.s / 1000, 'unixepoch')
        || printf('.%03dZ', cycles.s % 1000)
    from (
        select
            shifted.s,
            cast(strftime('%Y', shifted.s / 1000, 'unixepoch') as integer)
            + 400 * shifted.k as y
        from (
            select
                ms_value.v - ms_value.k * {{ cycle }} as s,
                ms_value.k
            from (
                select
                    cast({{ expr }} as integer) as v,
                    (
                        cast({{ expr }} as integer) - {{ y2000 }}
                        - (
                            (cast({{ expr }} as integer) - {{ y2000 }}) % {{ cycle }} + {{ cycle }}
                        ) % {{ cycle }}
                    ) / {{ cycle }} as k
            ) as ms_value
        ) as shifted
    ) as cycles
)
{%- endmacro %}

{#- PostgreSQL: iso_from_unix_ms() is installed by install_js_functions; it truncates to whole ms. -#}
{% macro postgres__iso_from_unix_ms(expr) -%}
iso_from_unix_ms(cast(cast({{ expr }} as text) as double precision))
{%- endmacro %}
