{#
    A non-negative integer as `width` base-36 digits [0-9a-z], zero-padded:
    the 9-character tail of a sync_data id is the row's number within the run,
    so ids are unique by construction, not by chance.
#}
{% macro base36(expr, width=9) -%}
    {%- set alphabet = "'0123456789abcdefghijklmnopqrstuvwxyz'" -%}
    {%- for position in range(width - 1, -1, -1) -%}
        substr({{ alphabet }}, cast((({{ expr }}) / {{ 36 ** position }}) % 36 + 1 as integer), 1)
        {%- if not loop.last %} || {% endif %}
    {%- endfor -%}
{%- endmacro %}
