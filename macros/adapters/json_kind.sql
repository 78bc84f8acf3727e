{#
    The kind of the top-level value of a valid JSON text, as SQLite's
    json_type() names it: 'object', 'array', 'text', 'integer', 'real',
    'true', 'false' or 'null'.
#}
{% macro json_kind(expr) -%}
    {{ return(adapter.dispatch('json_kind')(expr)) }}
{%- endmacro %}

{% macro sqlite__json_kind(expr) -%}
json_type({{ expr }})
{%- endmacro %}

{% macro postgres__json_kind(expr) -%}
case json_typeof(cast({{ expr }} as json))
    when 'string' then 'text'
    when 'number' then
        case
            when cast({{ expr }} as text) ~ '[.eE]' then 'real'
            else 'integer'
        end
    when 'boolean' then btrim(cast({{ expr }} as text), e' \t\r\n')
    else json_typeof(cast({{ expr }} as json))
end
{%- endmacro %}
