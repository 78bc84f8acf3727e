{# sync_data's key: one row, one document, per (user_id, entity_type, entity_id). #}
{% macro sync_key() -%}
    {{ return(['user_id', 'entity_type', 'entity_id']) }}
{%- endmacro %}

{#
    Two relations' rows with the same key, as a join condition.
#}
{% macro same_key(left, right, key=none) -%}
    {%- for column in key or sync_key() -%}
        {{ left }}.{{ column }} = {{ right }}.{{ column }}
        {%- if not loop.last %} and {% endif -%}
    {%- endfor -%}
{%- endmacro %}
