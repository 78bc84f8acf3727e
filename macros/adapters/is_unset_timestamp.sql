{#
    The contract's "NULL, '' or 0" of an optional timestamp: true when the
    value means "not set".
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
