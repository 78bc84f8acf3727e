{#
    One check per rule of the contract's "Rows that cannot be migrated".
    Each returns the reason text when the rule is broken, else null; a staging
    model coalesces them in the contract's order, so a row carries its first
    broken rule: "<category>: <column>: <detail>".
#}

{% macro reject_value_text(expr) -%}
    substr(cast({{ expr }} as text), 1, 60)
{%- endmacro %}

{% macro reject_missing_id(column='id') -%}
    case
        when {{ column }} is null then 'missing_id: {{ column }}: the id is null'
    end
{%- endmacro %}

{# Text that JSON.parse would throw on. Only text is parsed; '' means empty. #}
{% macro reject_invalid_json(column) -%}
    case
        when
            typeof({{ column }}) = 'text'
            and {{ column }} != ''
            and not {{ json_is_valid(column) }}
            then '{{ "invalid_json: " ~ column ~ ": not valid JSON" }}'
    end
{%- endmacro %}

{# The top-level kind only: 'array' or 'object'. Empty reads as the default. #}
{% macro reject_wrong_json_kind(column, kind) -%}
    case
        when
            typeof({{ column }}) in ('integer', 'real')
            or (
                typeof({{ column }}) = 'text'
                and {{ column }} != ''
                and json_type({{ column }}) != '{{ kind }}'
            )
            then
                '{{ "wrong_json_kind: " ~ column ~ ": expected an " ~ kind ~ ", found " }}'
                || case typeof({{ column }})
                    when 'text' then json_type({{ column }})
                    else 'a number'
                end
    end
{%- endmacro %}

{% macro reject_missing_timestamp(column) -%}
    case
        when {{ column }} is null
            then '{{ "missing_timestamp: " ~ column ~ ": required, but null" }}'
    end
{%- endmacro %}

{#
    A Unix-ms column must hold a number. For optional ones (allow_empty),
    '' reads as null.
#}
{% macro reject_timestamp_not_number(column, allow_empty=false) -%}
    case
        when
            typeof({{ column }}) = 'text'
            {%- if allow_empty %} and {{ column }} != ''{% endif %}
            then
                '{{ "timestamp_not_number: " ~ column ~ ": " }}'
                || quote({{ reject_value_text(column) }})
                || ' is text, not a number'
    end
{%- endmacro %}

{# A practice_sessions DATETIME text that names no instant in either form. #}
{% macro reject_unreadable_datetime(column, allow_empty=false) -%}
    case
        when
            typeof({{ column }}) = 'text'
            {%- if allow_empty %} and {{ column }} != ''{% endif %}
            and {{ unix_ms_from_datetime_text(column) }} is null
            then
                '{{ "unreadable_datetime: " ~ column ~ ": " }}'
                || quote({{ reject_value_text(column) }})
                || ' is not a real instant in a known DATETIME form'
    end
{%- endmacro %}

{# new Date(x) holds at most 8.64e15 ms either side of 1970. #}
{% macro reject_timestamp_out_of_range(column) -%}
    case
        when
            typeof({{ column }}) in ('integer', 'real')
            and abs({{ column }}) > 8640000000000000
            then
                '{{ "timestamp_out_of_range: " ~ column ~ ": " }}'
                || {{ reject_value_text(column) }}
                || ' is outside the range of a JavaScript Date'
    end
{%- endmacro %}

{% macro reject_blob(columns) -%}
    case
        {%- for column in columns %}
        when typeof({{ column }}) = 'blob'
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
    case substr(
        substr({{ reason }}, instr({{ reason }}, ': ') + 2),
        1,
        instr(substr({{ reason }}, instr({{ reason }}, ': ') + 2), ':') - 1
    )
        {%- for column in columns %}
        when '{{ column }}' then
            case typeof({{ column }})
                when 'blob' then 'x''' || substr(hex({{ column }}), 1, 196) || ''''
                else substr(cast({{ column }} as text), 1, 200)
            end
        {%- endfor %}
    end
{%- endmacro %}

{#
    What names a source row in migration_rejects: its id, or, for a row with
    no id, 'no-id:' and a hash of all its values (a row has nothing else).
#}
{% macro reject_key(id_column, columns) -%}
    coalesce(
        cast({{ id_column }} as text),
        'no-id:' || substr(
            {{ sha256_hex("quote(" ~ columns | join(") || ',' || quote(") ~ ")") }},
            1,
            16
        )
    )
{%- endmacro %}
