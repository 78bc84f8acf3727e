{#
    The value of a top-level key of a JSON object text, as SQL text (null
    when the key is missing). For reading documents back in the analysis.
#}
{% macro json_text_at(expr, key) -%}
    {{ return(adapter.dispatch('json_text_at')(expr, key)) }}
{%- endmacro %}

{% macro sqlite__json_text_at(expr, key) -%}
json_extract({{ expr }}, '$.{{ key }}')
{%- endmacro %}

{% macro postgres__json_text_at(expr, key) -%}
(cast({{ expr }} as json) ->> '{{ key }}')
{%- endmacro %}
