{#
    The model's SQL, the plan, computed into the merge's temp table: the rows
    that take a seq first, in key order (bytes), so that the n-th of them
    takes the sequence's last value + n (merge_new_seq). On SQLite n is the
    row's rowid, as the sorted rows are stored; on PostgreSQL a row_number().
#}
{% macro compute_merge_plan(plan_sql) -%}
    {%- set incoming = merge_plan_relation() -%}
    {% call statement('drop_plan') -%}
        drop table if exists {{ incoming }}
    {%- endcall %}
    {% call statement('plan') -%}
        {{ adapter.dispatch('store_merge_plan')(incoming, plan_sql) }}
    {%- endcall %}
{%- endmacro %}

{% macro merge_write_order_by(alias) -%}
    {{ alias }}.takes_seq desc,
    {{ binary_sort(alias ~ '.user_id') }},
    {{ binary_sort(alias ~ '.entity_type') }},
    {{ binary_sort(alias ~ '.entity_id') }}
{%- endmacro %}

{% macro sqlite__store_merge_plan(incoming, plan_sql) -%}
    create temp table {{ incoming.identifier }} as
    select planned.*
    from (
        {{ plan_sql }}
    ) as planned
    order by {{ merge_write_order_by('planned') }}
{%- endmacro %}

{% macro postgres__store_merge_plan(incoming, plan_sql) -%}
    create temp table {{ incoming.identifier }} as
    select
        planned.*,
        row_number() over (order by {{ merge_write_order_by('planned') }}) as write_order
    from (
        {{ plan_sql }}
    ) as planned
{%- endmacro %}

{# A planned row's number in write order (compute_merge_plan), from 1. #}
{% macro merge_write_order(alias) -%}
    {{ return(adapter.dispatch('merge_write_order')(alias)) }}
{%- endmacro %}

{% macro sqlite__merge_write_order(alias) -%}
    {{ alias }}.rowid
{%- endmacro %}

{% macro postgres__merge_write_order(alias) -%}
    {{ alias }}.write_order
{%- endmacro %}

{# The seq a planned write takes; null for a row that takes none. #}
{% macro merge_new_seq(alias) -%}
    case
        when {{ alias }}.takes_seq = 1
            then {{ alias }}.last_seq + {{ merge_write_order(alias) }}
    end
{%- endmacro %}
