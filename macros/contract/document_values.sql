{#
    The contract's defaults. "Empty" is NULL or ''.
    js_parse: parse(col), empty reads as `when_empty` ('[]' unless told).
    js_optional: the value as stored, empty becomes `when_empty` (null).
#}
{% macro js_parse(column, when_empty='[]') -%}
    case
        when {{ column }} is null or {{ column }} = '' then '{{ when_empty }}'
        else {{ js_json(column) }}
    end
{%- endmacro %}

{% macro js_optional(column, when_empty='null') -%}
    case
        when {{ column }} is null or {{ column }} = '' then '{{ when_empty }}'
        else {{ js_value(column) }}
    end
{%- endmacro %}

{#
    An optional Unix-ms timestamp: NULL, '' or 0 is null, anything else ISO.
#}
{% macro js_optional_iso(column) -%}
    case
        when {{ is_unset_timestamp(column) }} then 'null'
        else {{ js_string(iso_from_unix_ms(column)) }}
    end
{%- endmacro %}

{# The value as stored; only NULL becomes `when_null`. #}
{% macro js_value_or(column, when_null) -%}
    case
        when {{ column }} is null then '{{ when_null }}'
        else {{ js_value(column) }}
    end
{%- endmacro %}
