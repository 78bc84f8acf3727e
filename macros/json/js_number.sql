{#
    JavaScript's Number.prototype.toString for a REAL, which is what
    JSON.stringify writes: the shortest digits that read back as the same
    double, then the ECMAScript layout rules (plain up to 21 integer digits,
    "0.000001" down to 1e-7, exponent form outside). SQLite's own JSON output
    writes 15 digits and "50.0", which changes the checksum.

    Split in two flat steps because SQLite's parser allows little nesting:
    js_number_mantissa(x) gives the shortest 'd.ddde+XX' form (null when the
    layout needs none), js_number_layout(x, m) writes the number from it.
#}
{% macro js_number(expr) -%}
    {{ return(adapter.dispatch('js_number')(expr)) }}
{%- endmacro %}

{% macro sqlite__js_number(expr) -%}
(
    select {{ js_number_layout('num.x', 'num.m') }}
    from (
        select
            real_value.x,
            {{ js_number_mantissa('real_value.x') }} as m
        from (select cast({{ expr }} as real) as x) as real_value
    ) as num
)
{%- endmacro %}

{# Values that need no digit search: null, infinities, zero, safe integers. #}
{% macro js_number_is_simple(x) -%}
    (
        {{ x }} is null
        or abs({{ x }}) > 1.7976931348623157e308
        or ({{ x }} = cast({{ x }} as integer) and abs({{ x }}) <= 9007199254740992)
    )
{%- endmacro %}

{% macro js_number_mantissa(x) -%}
    case
        when not {{ js_number_is_simple(x) }} then coalesce(
            {%- for precision in range(16) %}
            case
                when cast(printf('%!.{{ precision }}e', abs({{ x }})) as real) = abs({{ x }})
                    then printf('%!.{{ precision }}e', abs({{ x }}))
            end,
            {%- endfor %}
            printf('%!.16e', abs({{ x }}))
        )
    end
{%- endmacro %}

{% macro js_number_layout(x, m) -%}
    {%- set digits -%}
        rtrim(replace(substr({{ m }}, 1, instr({{ m }}, 'e') - 1), '.', ''), '0')
    {%- endset -%}
    {%- set k -%} length({{ digits }}) {%- endset -%}
    {%- set n -%} (cast(substr({{ m }}, instr({{ m }}, 'e') + 1) as integer) + 1) {%- endset -%}
    {#- JSON.stringify writes Infinity and NaN as null #}
    case
        when {{ x }} is null or abs({{ x }}) > 1.7976931348623157e308 then 'null'
        when {{ x }} = 0 then '0'
        when {{ m }} is null then cast(cast({{ x }} as integer) as text)
        else
            case when {{ x }} < 0 then '-' else '' end
            || case
                when {{ n }} >= {{ k }} and {{ n }} <= 21
                    then {{ digits }}
                    || substr('000000000000000000000', 1, {{ n }} - {{ k }})
                when {{ n }} > 0 and {{ n }} <= 21
                    then substr({{ digits }}, 1, {{ n }})
                    || '.' || substr({{ digits }}, {{ n }} + 1)
                when {{ n }} > -6 and {{ n }} <= 0
                    then '0.' || substr('000000', 1, -{{ n }}) || {{ digits }}
                else substr({{ digits }}, 1, 1)
                    || case
                        when {{ k }} > 1 then '.' || substr({{ digits }}, 2)
                        else ''
                    end
                    || 'e' || case when {{ n }} - 1 >= 0 then '+' else '-' end
                    || abs({{ n }} - 1)
            end
    end
{%- endmacro %}
