{#
    One check per rule of the contract's "Rows that cannot be migrated".
    Each returns the reason text when the rule is broken, else null; a documented
    model coalesces them in the contract's order, so a row carries its first
    broken rule: "<category>: <column>: <detail>".
#}

{#
    The reason a row is rejected: the first broken rule of `checks`, in the
    order given (the contract's), or null when the row keeps every rule.
#}
{% macro first_broken_rule(checks) -%}
coalesce(
    {{ checks | join(',\n    ') }}
)
{%- endmacro %}

{#
    Each reject_* macro below takes one column or a list of columns and
    returns one check per column (comma-separated), for first_broken_rule.
#}
{% macro as_column_list(columns) -%}
    {{ return([columns] if columns is string else columns) }}
{%- endmacro %}

{% macro reject_value_text(expr) -%}
    substr(cast({{ expr }} as text), 1, 60)
{%- endmacro %}

{% macro reject_missing_id(column='id') -%}
    case
        when {{ column }} is null then 'missing_id: {{ column }}: the id is null'
    end
{%- endmacro %}

{# Text that JSON.parse would throw on. Only text is parsed; '' means empty. #}
{% macro reject_invalid_json(columns) -%}
    {%- for column in as_column_list(columns) %}
    case
        when
            {{ value_type(column) }} = 'text'
            and {{ column }} != ''
            and not {{ json_is_valid(column) }}
            then '{{ "invalid_json: " ~ column ~ ": not valid JSON" }}'
    end{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{# The top-level kind only: 'array' or 'object'. Empty reads as the default. #}
{% macro reject_wrong_json_kind(columns, kind) -%}
    {%- for column in as_column_list(columns) %}
    case
        when
            {{ value_type(column) }} in ('integer', 'real')
            or (
                {{ value_type(column) }} = 'text'
                and {{ column }} != ''
                and {{ json_kind(column) }} != '{{ kind }}'
            )
            then
                '{{ "wrong_json_kind: " ~ column ~ ": expected an " ~ kind ~ ", found " }}'
                || case {{ value_type(column) }}
                    when 'text' then {{ json_kind(column) }}
                    else 'a number'
                end
    end{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{% macro reject_missing_timestamp(columns) -%}
    {%- for column in as_column_list(columns) %}
    case
        when {{ column }} is null
            then '{{ "missing_timestamp: " ~ column ~ ": required, but null" }}'
    end{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#
    A Unix-ms column must hold a number. For optional ones (allow_empty),
    '' reads as null.
#}
{% macro reject_timestamp_not_number(columns, allow_empty=false) -%}
    {%- for column in as_column_list(columns) %}
    case
        when
            {{ value_type(column) }} = 'text'
            {%- if allow_empty %} and cast({{ column }} as text) != ''{% endif %}
            then
                '{{ "timestamp_not_number: " ~ column ~ ": " }}'
                || {{ sql_literal(reject_value_text(column)) }}
                || ' is text, not a number'
    end{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#
    A practice_sessions DATETIME text that names no instant in either form:
    `instant_ms` is the column it was read into (null when unreadable).
#}
{% macro reject_unreadable_datetime(column, instant_ms, allow_empty=false) -%}
    case
        when
            {{ value_type(column) }} = 'text'
            {%- if allow_empty %} and {{ column }} != ''{% endif %}
            and {{ instant_ms }} is null
            then
                '{{ "unreadable_datetime: " ~ column ~ ": " }}'
                || {{ sql_literal(reject_value_text(column)) }}
                || ' is not a real instant in a known DATETIME form'
    end
{%- endmacro %}

{# new Date(x) holds at most 8.64e15 ms either side of 1970. #}
{% macro reject_timestamp_out_of_range(columns) -%}
    {%- for column in as_column_list(columns) %}
    case
        when {{ value_type(column) }} in ('integer', 'real')
            then
                case
                    when abs({{ as_number(column) }}) > 8640000000000000
                        then
                            '{{ "timestamp_out_of_range: " ~ column ~ ": " }}'
                            || {{ reject_value_text(column) }}
                            || ' is outside the range of a JavaScript Date'
                end
    end{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{% macro reject_blob(columns) -%}
    case {{ first_blob_position(columns) }}
        {%- for column in columns %}
        when {{ loop.index }}
            then '{{ "unsupported_value: " ~ column ~ ": holds a BLOB, which JSON cannot carry" }}'
        {%- endfor %}
    end
{%- endmacro %}

{#
    The offending value of a rejected row: the column its reason names
    ('<category>: <column>: ...'), as text cut to 200 characters (a BLOB as
    its hex literal), so an operator sees what to fix.
#}
{% macro reject_value(reason, columns) -%}
    {%- set after_category -%}
        substr({{ reason }}, {{ text_position(reason, "': '") }} + 2)
    {%- endset -%}
    case substr(
        {{ after_category }},
        1,
        {{ text_position(after_category, "':'") }} - 1
    )
        {%- for column in columns %}
        when '{{ column }}' then
            case {{ value_type(column) }}
                when 'blob'
                    then 'x''' || substr({{ blob_hex(column) }}, 1, 196) || ''''
                else substr(cast({{ column }} as text), 1, 200)
            end
        {%- endfor %}
    end
{%- endmacro %}

{#
    What names a source row in migration_rejects: its id, or, for a row with
    no id, 'no-id:' and a hash of all its values (a row has nothing else).
#}
{% macro entity_key(id_column, columns) -%}
    coalesce(
        cast({{ id_column }} as text),
        'no-id:' || substr(
            {{ sha256_hex(literal_list(columns)) }},
            1,
            16
        )
    )
{%- endmacro %}
