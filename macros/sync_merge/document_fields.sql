{#
    The document diff's engine-specific primitives: which top-level fields
    of two JSON documents differ as JSON values, and each key's set of them.
#}

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

{#- The top-level fields of both sides (json_each), stacked and grouped by
    key: a field found other than once on a side (absent, or a duplicate
    key), of another kind, or with another value changes. Only a container
    whose text differs is walked node by node (json_tree of its own text),
    since key order inside it is no change. Fields are never looked up by a
    path: SQLite 3.40 cannot read one whose key holds a double quote.
    Numbers compare as doubles, as JavaScript reads them. -#}
{% macro sqlite__document_field_changes(rows) -%}
    {%- set number = "('integer', 'real')" -%}
    select
        fields.user_id,
        fields.entity_type,
        fields.entity_id,
        fields.field,
        {{ sqlite_field_json('documents.before_data', 'fields.field_path') }} as before_value,
        {{ sqlite_field_json('documents.after_data', 'fields.field_path') }} as after_value
    from (
        select
            tops.user_id,
            tops.entity_type,
            tops.entity_id,
            tops.field,
            max(tops.field_path) as field_path,
            max(case when tops.side = 0 then tops.compared end) as before_compared,
            max(case when tops.side = 1 then tops.compared end) as after_compared,
            case
                when
                    sum(tops.side = 0) != 1
                    or sum(tops.side = 1) != 1
                    or min(tops.kind) != max(tops.kind)
                    then 1
                when min(tops.compared) = max(tops.compared) or max(tops.compared) is null
                    then 0
                when min(tops.kind) in ('object', 'array') then null
                else 1
            end as changed
        from (
            {%- for side in ['before_data', 'after_data'] %}
            select
                {{ rows }}.user_id,
                {{ rows }}.entity_type,
                {{ rows }}.entity_id,
                {{ loop.index0 }} as side,
                top.key as field,
                top.fullkey as field_path,
                case when top.type in {{ number }} then 'number' else top.type end as kind,
                case
                    when top.type in {{ number }} then cast(top.atom as real)
                    else top.value
                end as compared
            from {{ rows }}, json_each({{ rows }}.{{ side }}) as top
            where {{ rows }}.comparison = 'fields'
            {%- if not loop.last %}
            union all
            {%- endif %}
            {%- endfor %}
        ) as tops
        group by tops.user_id, tops.entity_type, tops.entity_id, tops.field
    ) as fields
    inner join {{ rows }} as documents
        on
            fields.user_id = documents.user_id
            and fields.entity_type = documents.entity_type
            and fields.entity_id = documents.entity_id
    where
        fields.changed = 1
        or (
            fields.changed is null
            and exists (
                select 1
                from (
                    {%- for side in ['before_compared', 'after_compared'] %}
                    select
                        node.fullkey as node_path,
                        {{ loop.index0 }} as side,
                        case when node.type in {{ number }} then 'number' else node.type end
                        as kind,
                        case
                            when node.type in {{ number }} then cast(node.atom as real)
                            else node.atom
                        end as atom
                    from json_tree(fields.{{ side }}) as node
                    {%- if not loop.last %}
                    union all
                    {%- endif %}
                    {%- endfor %}
                ) as nodes
                group by nodes.node_path
                having
                    sum(nodes.side = 0) != 1
                    or sum(nodes.side = 1) != 1
                    or min(nodes.kind) != max(nodes.kind)
                    or min(nodes.atom) != max(nodes.atom)
            )
        )
{%- endmacro %}

{#- A top-level field's JSON text, found by its json_each path (the last of
    duplicate keys, as JSON.parse keeps it); NULL where the document lacks
    it. A number keeps its spelling where `->` can read the path. -#}
{% macro sqlite_field_json(document, field_path) -%}
    (
        select
            case field.type
                when 'text' then json_quote(field.value)
                when 'true' then 'true'
                when 'false' then 'false'
                when 'null' then 'null'
                when 'integer' then coalesce({{ document }} -> field.fullkey, cast(field.value as text))
                when 'real' then coalesce({{ document }} -> field.fullkey, cast(field.value as text))
                else field.value
            end
        from json_each({{ document }}) as field
        where field.fullkey = {{ field_path }}
        order by field.id desc
        limit 1
    )
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
