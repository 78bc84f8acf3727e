{#
    A practice_sessions DATETIME as Unix ms, whatever it holds: text in one of
    the two forms (unix_ms_from_datetime_text), or a number of ms within a
    JavaScript Date's range, truncated. Null when it is neither.
#}
{% macro datetime_ms(column, allow_empty=false) -%}
case
    when {{ value_type(column) }} = 'text'
        {%- if allow_empty %} and cast({{ column }} as text) != ''{% endif %}
        then {{ unix_ms_from_datetime_text(column) }}
    when {{ value_type(column) }} in ('integer', 'real')
        then
            case
                when abs({{ as_number(column) }}) <= 8640000000000000
                    then {{ whole_ms(column) }}
            end
end
{%- endmacro %}

{#
    True when the fields read from a DATETIME text name a real instant: a
    month 1-12, a day that month has (leap years by the Gregorian rule), a
    time within the day and an offset within 23:59. PostgreSQL's reader
    uses it; SQLite's (datetime_text_ms in C) checks the same.
#}
{% macro names_a_real_instant(fields) -%}
(
    {{ fields }}.mo between 1 and 12
    and {{ fields }}.d between 1 and case
        when {{ fields }}.mo in (4, 6, 9, 11) then 30
        when {{ fields }}.mo != 2 then 31
        when
            ({{ fields }}.y % 4 = 0 and {{ fields }}.y % 100 != 0)
            or {{ fields }}.y % 400 = 0
            then 29
        else 28
    end
    and {{ fields }}.hh <= 23
    and {{ fields }}.mi <= 59
    and {{ fields }}.ss <= 59
    and {{ fields }}.offset_hh <= 23
    and {{ fields }}.offset_mi <= 59
)
{%- endmacro %}
