{#
    What to do about a database this run could not write, in a sentence or
    two (see explain_unwritable_database).
#}
{% macro unwritable_database_advice() -%}
    {{ return(adapter.dispatch('unwritable_database_advice')()) }}
{%- endmacro %}

{% macro sqlite__unwritable_database_advice() -%}
    {{ return(
        "it is read-only for this user. Check the permissions of the file and of its folder "
        ~ "(SQLite writes a journal next to the file, so both must be writable), or run as "
        ~ "the user who owns them.") }}
{%- endmacro %}

{% macro postgres__unwritable_database_advice() -%}
    {{ return(
        "this user (" ~ target.user ~ ") may not write it, or the server is read-only. Grant "
        ~ "the user usage and create on the schema and select, insert, update and delete on "
        ~ "its tables, or run as a user who has them, on the primary server.") }}
{%- endmacro %}
