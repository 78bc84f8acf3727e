{# True when the text is well-formed JSON (RFC 8259, as JSON.parse reads it). #}
{% macro json_is_valid(expr) -%}
    {{ return(adapter.dispatch('json_is_valid')(expr)) }}
{%- endmacro %}

{% macro sqlite__json_is_valid(expr) -%}
json_valid({{ expr }})
{%- endmacro %}

{% macro postgres__json_is_valid(expr) -%}
js_json_is_valid(cast({{ expr }} as text))
{%- endmacro %}
