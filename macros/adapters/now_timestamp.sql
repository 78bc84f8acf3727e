{#
    The current UTC time as the timestamp sync_data's created_at/updated_at
    hold: SQLite's CURRENT_TIMESTAMP is UTC text; PostgreSQL's would be the
    session's local time in a `timestamp` column, so it is taken at UTC.
#}
{% macro now_timestamp() -%}
    {{ return(adapter.dispatch('now_timestamp')()) }}
{%- endmacro %}

{% macro sqlite__now_timestamp() -%}
current_timestamp
{%- endmacro %}

{% macro postgres__now_timestamp() -%}
(now() at time zone 'utc')
{%- endmacro %}
