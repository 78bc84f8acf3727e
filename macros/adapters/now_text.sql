{#
    The current UTC time as 'YYYY-MM-DD HH:MM:SS' text: how the run history
    and the rejects record when they were written (sync_data's own
    created_at/updated_at keep the API's DDL default, CURRENT_TIMESTAMP).
#}
{% macro now_text() -%}
    {{ return(adapter.dispatch('now_text')()) }}
{%- endmacro %}

{% macro sqlite__now_text() -%}
strftime('%Y-%m-%d %H:%M:%S', 'now')
{%- endmacro %}

{% macro postgres__now_text() -%}
to_char(now() at time zone 'utc', 'YYYY-MM-DD HH24:MI:SS')
{%- endmacro %}
