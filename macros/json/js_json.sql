{#
    parse(col) of the contract: the JSON text re-serialised exactly as
    JSON.stringify(JSON.parse(text)) does in JavaScript. SQLite's json() keeps
    string escapes and number text as written, so the document is rebuilt from
    json_tree, set-based, with JavaScript's rules:
    - strings re-escaped (\u0041 becomes A, \/ becomes /), numbers re-written;
    - an object key given twice keeps its first position and its last value;
    - keys that are array indices ("0", "1", ...) come first, in numeric order.
    Each node gets a sort key (its ancestors' ranks, then its own) and the
    closing brackets owed after it; the tokens are concatenated in that order.
    The caller passes valid JSON text; '[]' and '{}' need no rebuilding.

    SQLite cuts a decoded string at U+0000, so an escaped NUL (\u0000) is
    carried through as the private-use character U+F0000 and escaped again at
    the end; escaped backslashes are set aside first so that "\\u0000" (a
    backslash, then the text u0000) is left alone. Text that already holds
    U+F0000 and an escaped NUL is beyond this (documented limitation).

    A lone surrogate (\ud800 with no partner) is decoded by SQLite into bytes
    that are not UTF-8; the rebuilt document is repaired to hold the lower-case
    \udxxx escape JSON.stringify writes.
#}
{% macro js_json(expr) -%}
    {{ return(adapter.dispatch('js_json')(expr)) }}
{%- endmacro %}

{% macro sqlite__js_json(expr) -%}
    {%- set has_nul = "instr(" ~ expr ~ ", '\\u0000') > 0" -%}
    {%- set prepared -%}
        case
            when {{ has_nul }}
                then replace(
                    replace(replace({{ expr }}, '\\', char(983041)), '\u0000', char(983040)),
                    char(983041),
                    '\\'
                )
            else {{ expr }}
        end
    {%- endset -%}
case
    when {{ expr }} in ('[]', '{}') then {{ expr }}
    when instr({{ expr }}, '\') = 0 and {{ sqlite__js_json_is_canonical(expr) }} then json({{ expr }})
    {#- only an escaped surrogate (\ud800-\udfff) can decode to a lone one #}
    when instr(lower({{ expr }}), '\ud') = 0 then {{ sqlite__js_json_tree(prepared) }}
    else {{ sqlite__js_json_tree(prepared, repair=true) }}
end
{%- endmacro %}

{#
    True when SQLite's own minified form, json(expr), is already what
    JavaScript writes, which holds for most real documents: the caller has
    checked that no string has an escape (no backslash), and here no number
    needs rewriting (a REAL, an integer beyond 2^53, or -0), no object key is
    given twice and no key looks like an array index (JavaScript moves those
    first). One pass over json_tree, no sorting: much cheaper than rebuilding.
#}
{% macro sqlite__js_json_is_canonical(expr) -%}
    (
        select
            coalesce(sum(
                tree.type = 'real'
                or (
                    tree.type = 'integer'
                    and (
                        typeof(tree.atom) != 'integer'
                        or abs(tree.atom) > 9007199254740991
                        or (tree.atom = 0 and instr({{ expr }}, '-0') > 0)
                    )
                )
                or (typeof(tree.key) = 'text' and tree.key glob '[0-9]*')
            ), 0) = 0
            and count(distinct case when typeof(tree.key) = 'text' then tree.parent || ':' || tree.key end)
            = sum(typeof(tree.key) = 'text')
        from json_tree({{ expr }}) as tree
    )
{%- endmacro %}

{% macro sqlite__js_json_tree(expr, repair=false) -%}
    (
        with recursive
        nodes as materialized (
            select
                tree.id,
                tree.parent,
                tree.type,
                tree.key,
                tree.atom
            from json_tree({{ expr }}) as tree
        ),

        members as materialized (
            select
                child.id,
                child.parent,
                child.type,
                child.atom,
                case
                    when parent_node.type = 'object'
                        then json_quote(child.key) || ':'
                    else ''
                end as key_prefix,
                case
                    when parent_node.type is null then ''
                    when parent_node.type = 'array'
                        then '1' || printf('%010d', child.id)
                    when
                        child.key not glob '*[^0-9]*'
                        and child.key != ''
                        and (child.key = '0' or child.key not like '0%')
                        and length(child.key) <= 10
                        and cast(child.key as integer) < 4294967295
                        then '0' || printf('%010d', cast(child.key as integer))
                    else '1' || printf(
                        '%010d',
                        min(child.id) over (partition by child.parent, child.key)
                    )
                end as rank_key,
                parent_node.type is not 'object'
                or child.id = max(child.id) over (
                    partition by child.parent, child.key
                ) as is_kept
            from nodes as child
            left join nodes as parent_node on child.parent = parent_node.id
        ),

        walk as (
            select
                members.id,
                members.parent,
                members.type,
                members.atom,
                members.key_prefix,
                '' as sort_key,
                0 as depth,
                '' as chain
            from members
            where members.parent is null
            union all
            select
                members.id,
                members.parent,
                members.type,
                members.atom,
                members.key_prefix,
                walk.sort_key || members.rank_key,
                walk.depth + 1,
                case walk.type when 'array' then ']' else '}' end || walk.chain
            from members
            inner join walk on members.parent = walk.id
            where members.is_kept
        ),

        tokens as (
            select
                walk.sort_key,
                case
                    when
                        row_number() over (
                            partition by walk.parent order by walk.sort_key
                        ) > 1
                        then ','
                    else ''
                end
                || walk.key_prefix
                || case
                    when walk.type = 'array' then '['
                    when walk.type = 'object' then '{'
                    when walk.type in ('null', 'true', 'false') then walk.type
                    when walk.type = 'text' then json_quote(walk.atom)
                    else {{ js_number('walk.atom') }}
                end as token,
                case walk.type
                    when 'array' then ']'
                    when 'object' then '}'
                    else ''
                end || walk.chain as closers,
                lead(walk.depth) over (order by walk.sort_key) as next_depth
            from walk
        ),

        document as {% if repair %}materialized {% endif %}(
            select
                replace(
                    group_concat(
                        tokens.token
                        || substr(
                            tokens.closers,
                            1,
                            length(tokens.closers) - coalesce(tokens.next_depth, 0)
                        ),
                        ''
                    ) over (
                        order by tokens.sort_key
                        rows between unbounded preceding and unbounded following
                    ),
                    char(983040),
                    '\u0000'
                ) as doc
            from tokens
            limit 1
        )

        {%- if repair %},

        {{ sqlite__js_repair_lone_surrogates('document') }}

        select repaired.doc from repaired
        {%- else %}

        select document.doc from document
        {%- endif %}
    )
{%- endmacro %}


{#
    A lone surrogate (\ud800 with no partner) comes out of json_tree as the
    bytes ED A0..BF 80..BF, which are not UTF-8 (Hangul, which also starts
    with ED, has a second byte below A0). The rebuilt document is rewritten
    character by character, each such character becoming the lower-case
    \udxxx escape JSON.stringify writes; only documents holding the byte ED
    come here.
#}
{% macro sqlite__js_repair_lone_surrogates(relation) -%}
    {%- set digits = "'0123456789ABCDEF'" -%}
        {#- one character per step, carrying the rest of the text and the hex
            of its first character: linear, no joins, no windows. Bytes
            ED [A0-BF] [80-BF] hold U+D800..U+DFFF; the sum below is
            0xD000 + (b2 - 0x80) * 64 + (b3 - 0x80) from the hex digits. #}
        rebuilding (rest, h, doc) as (
            select
                {{ relation }}.doc,
                hex(substr({{ relation }}.doc, 1, 1)),
                ''
            from {{ relation }}
            where instr(cast({{ relation }}.doc as blob), x'ED') > 0
            union all
            select
                substr(rebuilding.rest, 2),
                hex(substr(rebuilding.rest, 2, 1)),
                rebuilding.doc || case
                    when rebuilding.h glob 'ED[AB][0-9A-F][89AB][0-9A-F]'
                        then '\u' || printf(
                            '%04x',
                            43823
                            + 1024 * instr({{ digits }}, substr(rebuilding.h, 3, 1))
                            + 64 * instr({{ digits }}, substr(rebuilding.h, 4, 1))
                            + 16 * instr({{ digits }}, substr(rebuilding.h, 5, 1))
                            + instr({{ digits }}, substr(rebuilding.h, 6, 1))
                        )
                    else substr(rebuilding.rest, 1, 1)
                end
            from rebuilding
            where rebuilding.rest != ''
        ),

        repaired as (
            select rebuilding.doc
            from rebuilding
            where rebuilding.rest = ''
            union all
            select {{ relation }}.doc
            from {{ relation }}
            where instr(cast({{ relation }}.doc as blob), x'ED') = 0
        )
{%- endmacro %}
