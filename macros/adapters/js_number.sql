{#
    A number as JavaScript writes it in JSON (Number.prototype.toString):
    shortest round-trip digits, "50" not "50.0", "1e+21", "1e-7", and null
    for the infinities. SQLite's own JSON output writes 15 digits and "50.0",
    and its printf and REAL parsing are not correctly rounded, so SQLite calls
    js_number() from the project's C extension (extensions/sqlite/js_json.c).
#}
{% macro js_number(expr) -%}
    {{ return(adapter.dispatch('js_number')(expr)) }}
{%- endmacro %}

{% macro sqlite__js_number(expr) -%}
coalesce(js_number({{ expr }}), 'null')
{%- endmacro %}

{#- PostgreSQL: js_number(text) reads the number text as JavaScript does (install_js_functions). -#}
{% macro postgres__js_number(expr) -%}
coalesce(js_number(cast({{ expr }} as text)), 'null')
{%- endmacro %}
