{#
    The backend DDL in the engine's own types. SQLite takes it as written.
#}
{% macro backend_ddl_for_engine(ddl, schema) -%}
    {{ return(adapter.dispatch('backend_ddl_for_engine')(ddl, schema)) }}
{%- endmacro %}

{% macro sqlite__backend_ddl_for_engine(ddl, schema) -%}
    {{ return(ddl) }}
{%- endmacro %}

{#-
    PostgreSQL: INTEGER becomes numeric (D1 stores a REAL such as 1.5 in an
    INTEGER column as it is, and numeric keeps it), REAL double precision,
    DATETIME text (D1 keeps DATETIMEs as text). The foreign keys are left out:
    SQLite does not enforce them unless asked, so backend rows can name a
    missing user or session, which the project must see (and reject as
    orphan_user), not have refused at load time.
-#}
{% macro postgres__backend_ddl_for_engine(ddl, schema) -%}
    {{ return(ddl
        | replace(' integer', ' numeric')
        | replace(' real ', ' double precision ')
        | replace('real,', 'double precision,')
        | replace("datetime default current_timestamp",
            "text default (to_char(now() at time zone 'utc', 'YYYY-MM-DD HH24:MI:SS'))")
        | replace(' datetime', ' text')
        | replace(' references users (id)', '')
        | replace(' references practice_sessions (id)', '')) }}
{%- endmacro %}
