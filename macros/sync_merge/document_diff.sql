{#
    The document diff: what a run changes inside the documents, so that an
    operator approves a rewrite knowing which fields move. It reads the
    merge's plan only (the before is sync_data's document as the plan read
    it, the after the backend's), so a dry run and a real run tell the
    same thing, and it writes nothing to the target database.
#}

{#
    One line per key and changed field of every row the plan updates,
    revives or tombstones, plus every conflict (kept for the API or not);
    inserts are listed apart (write_document_diff_file): entity_type, action,
    conflict_kind, changed_fields (the key's set of changed fields, sorted
    and joined by ' + ', the group it belongs to), user_id, entity_id,
    field, before_value and after_value (each field's JSON text, NULL where
    the document lacks it). A key without a changed field is one line with
    field NULL: a tombstone (its document is kept), a revival of
    the same document, or a document whose bytes change while every value
    stays equal, labelled '(same values, other bytes)'.
#}
{% macro document_diff_sql(incoming) -%}
with

planned as (
    select
        user_id,
        entity_type,
        entity_id,
        sync_action as action,
        conflict_kind,
        api_data as before_data,
        case when sync_action != 'tombstone' then backend_data end
        as after_data
    from {{ incoming }}
    where
        sync_action in ('update', 'revive', 'tombstone')
        or conflict_kind is not null
),

{# An API document that is not JSON cannot be compared field by field: it
    is its own group, and the run goes on. #}
compared as (
    select
        planned.*,
        case
            when planned.before_data is null or planned.after_data is null
                then 'none'
            when planned.before_data = planned.after_data then 'equal'
            when
                {{ json_is_valid('planned.before_data') }}
                and {{ json_is_valid('planned.after_data') }}
                then 'fields'
            else 'unreadable'
        end as comparison
    from planned
),

field_changes as (
    {{ document_field_changes('compared') }}
),

field_sets as (
    {{ document_field_sets('field_changes') }}
),

final as (
    select
        compared.entity_type,
        compared.action,
        compared.conflict_kind,
        case
            when field_sets.changed_fields is not null
                then field_sets.changed_fields
            when compared.comparison = 'fields'
                then '(same values, other bytes)'
            when compared.comparison = 'unreadable'
                then '(document is not JSON)'
            else ''
        end as changed_fields,
        compared.user_id,
        compared.entity_id,
        field_changes.field,
        field_changes.before_value,
        field_changes.after_value
    from compared
    left join field_sets
        on
            compared.user_id = field_sets.user_id
            and compared.entity_type = field_sets.entity_type
            and compared.entity_id = field_sets.entity_id
    left join field_changes
        on
            compared.user_id = field_changes.user_id
            and compared.entity_type = field_changes.entity_type
            and compared.entity_id = field_changes.entity_id
)

select * from final
{%- endmacro %}

{#
    The top-level fields whose JSON values differ between before_data and
    after_data of the rows of `rows` whose comparison is 'fields': user_id,
    entity_type, entity_id, field, before_value, after_value. Values compare
    as JSON: key order inside an object and the spelling of a number (1,
    1.0) do not count; an array's order does.
#}
{% macro document_field_changes(rows) -%}
    {{ return(adapter.dispatch('document_field_changes')(rows)) }}
{%- endmacro %}

{#- Every node of each top-level field's subtree, both sides stacked; a node
    path present on one side only, or with another kind or value, changes
    its field. -#}
{% macro sqlite__document_field_changes(rows) -%}
    select
        changed_nodes.user_id,
        changed_nodes.entity_type,
        changed_nodes.entity_id,
        changed_nodes.field,
        documents.before_data -> changed_nodes.field_path as before_value,
        documents.after_data -> changed_nodes.field_path as after_value
    from (
        select distinct
            nodes.user_id,
            nodes.entity_type,
            nodes.entity_id,
            max(nodes.field) as field,
            max(nodes.field_path) as field_path
        from (
            {%- for side in ['before_data', 'after_data'] %}
            select
                {{ rows }}.user_id,
                {{ rows }}.entity_type,
                {{ rows }}.entity_id,
                top.key as field,
                top.fullkey as field_path,
                node.fullkey as node_path,
                case
                    when node.type in ('integer', 'real') then 'number'
                    else node.type
                end as kind,
                node.atom
            from {{ rows }},
                json_each({{ rows }}.{{ side }}) as top,
                json_tree({{ rows }}.{{ side }}, top.fullkey) as node
            where {{ rows }}.comparison = 'fields'
            {%- if not loop.last %}
            union all
            {%- endif %}
            {%- endfor %}
        ) as nodes
        group by nodes.user_id, nodes.entity_type, nodes.entity_id, nodes.node_path
        having
            count(*) != 2
            or min(nodes.kind) != max(nodes.kind)
            or min(nodes.atom) != max(nodes.atom)
    ) as changed_nodes
    inner join {{ rows }} as documents
        on
            changed_nodes.user_id = documents.user_id
            and changed_nodes.entity_type = documents.entity_type
            and changed_nodes.entity_id = documents.entity_id
{%- endmacro %}

{#- jsonb compares values (key order and number spelling aside); json keeps
    each value's own text for the report. -#}
{% macro postgres__document_field_changes(rows) -%}
    select
        {{ rows }}.user_id,
        {{ rows }}.entity_type,
        {{ rows }}.entity_id,
        fields.field,
        cast(cast({{ rows }}.before_data as json) -> fields.field as text)
        as before_value,
        cast(cast({{ rows }}.after_data as json) -> fields.field as text)
        as after_value
    from {{ rows }}
    cross join lateral (
        select coalesce(before_fields.key, after_fields.key) as field
        from jsonb_each(cast({{ rows }}.before_data as jsonb)) as before_fields
        full join jsonb_each(cast({{ rows }}.after_data as jsonb)) as after_fields
            on before_fields.key = after_fields.key
        where before_fields.value is distinct from after_fields.value
    ) as fields
    where {{ rows }}.comparison = 'fields'
{%- endmacro %}

{#
    Each key's changed fields of `changes` as one label, sorted by bytes and
    joined by ' + ': user_id, entity_type, entity_id, changed_fields.
#}
{% macro document_field_sets(changes) -%}
    {{ return(adapter.dispatch('document_field_sets')(changes)) }}
{%- endmacro %}

{#- SQLite 3.40 has no ORDER BY inside group_concat; a subquery's order
    reaches it, and the LIMIT keeps SQLite from dropping that order. -#}
{% macro sqlite__document_field_sets(changes) -%}
    select
        sorted.user_id,
        sorted.entity_type,
        sorted.entity_id,
        group_concat(sorted.field, ' + ') as changed_fields
    from (
        select {{ changes }}.user_id, {{ changes }}.entity_type, {{ changes }}.entity_id, {{ changes }}.field
        from {{ changes }}
        order by 1, 2, 3, 4
        limit -1
    ) as sorted
    group by sorted.user_id, sorted.entity_type, sorted.entity_id
{%- endmacro %}

{% macro postgres__document_field_sets(changes) -%}
    select
        {{ changes }}.user_id,
        {{ changes }}.entity_type,
        {{ changes }}.entity_id,
        string_agg(
            {{ changes }}.field, ' + '
            order by {{ binary_sort(changes ~ '.field') }}
        ) as changed_fields
    from {{ changes }}
    group by {{ changes }}.user_id, {{ changes }}.entity_type, {{ changes }}.entity_id
{%- endmacro %}
