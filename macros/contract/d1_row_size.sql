{#
    D1 counts a row's bytes, not its document's: the columns the merge writes
    besides data and the keys have fixed sizes at most (checksum 64, id 28,
    two timestamps 38, version and seq 18), plus room for the record header.
#}
{% macro d1_row_size(alias) -%}
    (
        {{ byte_length(unpack_document(alias ~ '.data')) }}
        + {{ byte_length(alias ~ '.user_id') }}
        + {{ byte_length(alias ~ '.entity_type') }}
        + coalesce({{ byte_length(alias ~ '.entity_id') }}, 0)
        + 200
    )
{%- endmacro %}
