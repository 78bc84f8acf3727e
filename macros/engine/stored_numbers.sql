{#
    A value already known to be stored as a number (value_type 'integer' or
    'real'), as a number. Callers guard it with a case on value_type: an
    engine with typed columns must still type-check the expression for a
    text column, where it is never evaluated.
    Arguments:
    - expr: SQL expression
#}
{% macro as_number(expr) -%}
    {{ return(adapter.dispatch('as_number')(expr)) }}
{%- endmacro %}

{% macro sqlite__as_number(expr) -%}
{{ expr }}
{%- endmacro %}

{% macro postgres__as_number(expr) -%}
cast(cast({{ expr }} as text) as numeric)
{%- endmacro %}

{#
    A number of milliseconds truncated toward zero to a whole number, as
    new Date(x) does (1.999 is 1, -1.5 is -1).
    Arguments:
    - expr: SQL expression of a number
#}
{% macro whole_ms(expr) -%}
    {{ return(adapter.dispatch('whole_ms')(expr)) }}
{%- endmacro %}

{% macro sqlite__whole_ms(expr) -%}
cast({{ expr }} as integer)
{%- endmacro %}

{% macro postgres__whole_ms(expr) -%}
cast(trunc({{ as_number(expr) }}) as bigint)
{%- endmacro %}

{#
    The contract's "NULL, '' or 0" of an optional timestamp: true when the
    value means "not set".
    Arguments:
    - expr: SQL expression (a column)
#}
{% macro is_unset_timestamp(expr) -%}
    {{ return(adapter.dispatch('is_unset_timestamp')(expr)) }}
{%- endmacro %}

{% macro sqlite__is_unset_timestamp(expr) -%}
({{ expr }} is null or {{ expr }} = '' or {{ expr }} = 0)
{%- endmacro %}

{#-
    PostgreSQL: a DATETIME column is text there; any text that reads as the
    number 0 ('0', '0.0', '-0', ' 0e5') is what SQLite's NUMERIC affinity
    would have stored as 0.
-#}
{% macro postgres__is_unset_timestamp(expr) -%}
(
    {{ expr }} is null
    or cast({{ expr }} as text) = ''
    or case
        when
            cast({{ expr }} as text)
            ~ '^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,4})?\s*$'
            then cast(cast({{ expr }} as text) as numeric) = 0
        else false
    end
)
{%- endmacro %}
