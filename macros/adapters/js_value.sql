{#
    A column value "as stored", written the way JSON.stringify writes the value
    D1 hands to JavaScript: text as a JSON string, integers as numbers (rounded
    to a double beyond 2^53), REALs through js_number, NULL as null.
    BLOBs never get here: they are rejected as unsupported_value.
#}
{% macro js_value(expr) -%}
    {{ return(adapter.dispatch('js_value')(expr)) }}
{%- endmacro %}

{% macro sqlite__js_value(expr) -%}
case typeof({{ expr }})
    when 'text' then {{ js_string(expr) }}
    when 'integer' then
        case
            when {{ expr }} between -9007199254740992 and 9007199254740992
                then cast({{ expr }} as text)
            else {{ js_number(expr) }}
        end
    when 'real' then {{ js_number(expr) }}
    else 'null'
end
{%- endmacro %}

{#-
    PostgreSQL: the column's declared type says what JavaScript would get;
    every branch casts, so that the expression type-checks whatever the type.
-#}
{% macro postgres__js_value(expr) -%}
case
    when {{ expr }} is null then 'null'
    when {{ value_type(expr) }} = 'text' then js_string(cast({{ expr }} as text))
    when {{ value_type(expr) }} = 'integer'
        and cast(cast({{ expr }} as text) as numeric)
        between -9007199254740992 and 9007199254740992
        then cast({{ expr }} as text)
    else {{ js_number(expr) }}
end
{%- endmacro %}
