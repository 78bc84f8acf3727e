{# SQLite's length() counts characters; D1's row limit counts bytes. #}
{% macro byte_length(expression) -%}
    {{ return(adapter.dispatch('byte_length')(expression)) }}
{%- endmacro %}

{% macro sqlite__byte_length(expression) -%}
length(cast({{ expression }} as blob))
{%- endmacro %}

{% macro postgres__byte_length(expression) -%}
octet_length({{ expression }})
{%- endmacro %}
