{#
    ISO(x) of the contract: JavaScript's new Date(x).toISOString() for a whole
    number of milliseconds within Date's range. Integer calendar arithmetic
    (days to civil date, proleptic Gregorian) rather than strftime, because
    toISOString also writes years outside 0000-9999 (as +275760 or -000001)
    and the arithmetic reads the same on every engine.
#}
{% macro iso_from_unix_ms(expr) -%}
    {{ return(adapter.dispatch('iso_from_unix_ms')(expr)) }}
{%- endmacro %}

{% macro sqlite__iso_from_unix_ms(expr) -%}
(
    select
        case
            when civil.y between 0 and 9999 then printf('%04d', civil.y)
            when civil.y < 0 then '-' || printf('%06d', -civil.y)
            else '+' || printf('%06d', civil.y)
        end
        || printf(
            '-%02d-%02dT%02d:%02d:%02d.%03dZ',
            civil.m, civil.d, civil.hh, civil.mi, civil.ss, civil.ms
        )
    from (
        select
            years.yoe + years.era * 400 + (years.mp >= 10) as y,
            case when years.mp < 10 then years.mp + 3 else years.mp - 9 end as m,
            years.doy - (153 * years.mp + 2) / 5 + 1 as d,
            years.hh,
            years.mi,
            years.ss,
            years.ms
        from (
            select
                doys.*,
                (5 * doys.doy + 2) / 153 as mp
            from (
                select
                    yoes.*,
                    yoes.doe - (365 * yoes.yoe + yoes.yoe / 4 - yoes.yoe / 100) as doy
                from (
                    select
                        eras.*,
                        (
                            eras.doe - eras.doe / 1460 + eras.doe / 36524
                            - eras.doe / 146096
                        ) / 365 as yoe
                    from (
                        select
                            days.*,
                            (
                                case when days.z >= 0 then days.z else days.z - 146096 end
                            ) / 146097 as era,
                            days.z - (
                                (
                                    case when days.z >= 0 then days.z else days.z - 146096 end
                                ) / 146097
                            ) * 146097 as doe
                        from (
                            select
                                (split.v - split.tod) / 86400000 + 719468 as z,
                                split.tod / 3600000 as hh,
                                (split.tod / 60000) % 60 as mi,
                                (split.tod / 1000) % 60 as ss,
                                split.tod % 1000 as ms
                            from (
                                select
                                    ms_value.v,
                                    ((ms_value.v % 86400000) + 86400000) % 86400000 as tod
                                from (select cast({{ expr }} as integer) as v) as ms_value
                            ) as split
                        ) as days
                    ) as eras
                ) as yoes
            ) as doys
        ) as years
    ) as civil
)
{%- endmacro %}
