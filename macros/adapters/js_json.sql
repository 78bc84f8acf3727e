{#
    parse(col) of the contract: the JSON text re-serialised exactly as
    JSON.stringify(JSON.parse(text)) does in JavaScript. SQLite's json() keeps
    string escapes and number text as written, so SQLite cannot do this
    itself: js_json() comes from the project's C extension
    (extensions/sqlite/js_json.c), which re-escapes strings (\u0041 becomes A,
    \/ becomes /, a lone surrogate stays a lower-case \udxxx escape),
    re-writes numbers as js_number() does, and keeps JavaScript's property
    order (array-index keys first, in numeric order; a key given twice keeps
    its first position and its last value).
#}
{% macro js_json(expr) -%}
    {{ return(adapter.dispatch('js_json')(expr)) }}
{%- endmacro %}

{% macro sqlite__js_json(expr) -%}
    js_json({{ expr }})
{%- endmacro %}

{#- PostgreSQL: js_json() is a PL/pgSQL function the project installs (install_js_functions). -#}
{% macro postgres__js_json(expr) -%}
    js_json(cast({{ expr }} as text))
{%- endmacro %}
