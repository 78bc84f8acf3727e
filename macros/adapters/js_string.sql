{#
    A text value as a JSON string literal. SQLite's json_quote escapes exactly
    as JSON.stringify does (\b \t \n \f \r, other controls as lower-case
    \u00xx, nothing above 0x1f); NULL becomes null.
#}
{% macro js_string(expr) -%}
    {{ return(adapter.dispatch('js_string')(expr)) }}
{%- endmacro %}

{% macro sqlite__js_string(expr) -%}
json_quote({{ expr }})
{%- endmacro %}

{% macro postgres__js_string(expr) -%}
js_string(cast({{ expr }} as text))
{%- endmacro %}
