{#
    ISO(x) of the contract: JavaScript's new Date(x).toISOString() for a whole
    number of milliseconds within Date's range, years outside 0000-9999
    included (toISOString writes them as +275760 or -000001). A non-integral
    x is truncated toward zero first, as Date does.
#}
{% macro iso_from_unix_ms(expr) -%}
    {{ return(adapter.dispatch('iso_from_unix_ms')(expr)) }}
{%- endmacro %}

{#- SQLite: js_date_iso() of the project's C extension
    (extensions/sqlite/row_functions.c); strftime knows only 0000-9999, and
    the SQL around it that moved an instant by 400-year cycles cost a third
    of a logbook document's time. -#}
{% macro sqlite__iso_from_unix_ms(expr) -%}
js_date_iso({{ expr }})
{%- endmacro %}

{#- PostgreSQL: iso_from_unix_ms() is installed by install_js_functions; it truncates to whole ms. -#}
{% macro postgres__iso_from_unix_ms(expr) -%}
iso_from_unix_ms(cast(cast({{ expr }} as text) as double precision))
{%- endmacro %}
