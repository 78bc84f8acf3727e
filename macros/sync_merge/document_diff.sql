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
    the same document, a document whose bytes change while every value
    stays equal, labelled '(same values, other bytes)', or one that is not
    JSON or not an object, '(document is not JSON)' and '(document is not
    an object)'.
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
                then
                    case
                        when
                            {{ json_kind('planned.before_data') }} = 'object'
                            and {{ json_kind('planned.after_data') }} = 'object'
                            then 'fields'
                        else 'not_objects'
                    end
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
            when compared.comparison = 'not_objects'
                then '(document is not an object)'
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
