{#
    Rejected rows make a run warn (the rejected_rows test), not fail, unless
    var reject_threshold is set: a count (>= 1) or a fraction of the rows
    considered (< 1). Above it the run fails before merging anything, naming
    the most frequent reasons.
#}
{% macro check_reject_threshold(incoming) -%}
    {%- set threshold = var('reject_threshold', none) -%}
    {%- if threshold is none -%}{{ return('') }}{%- endif -%}
    {%- set totals = run_query(
        "select count(*) as considered, count(case when sync_action = 'rejected' then 1 end) as rejected from " ~ incoming
    ).rows[0] -%}
    {%- set limit = threshold if threshold >= 1 else threshold * totals['considered'] -%}
    {%- if totals['rejected'] > limit -%}
        {%- set worst = run_query(
            "select substr(reject_reason, 1, " ~ text_position('reject_reason', "':'") ~ " - 1) as category,"
            ~ " entity_type, count(*) as n from " ~ incoming
            ~ " where sync_action = 'rejected' group by 1, 2 order by n desc, 1, 2 limit 3"
        ) -%}
        {%- set named = [] -%}
        {%- for row in worst -%}
            {%- do named.append(row['category'] ~ " (" ~ row['n'] ~ " " ~ row['entity_type'] ~ ")") -%}
        {%- endfor -%}
        {{ exceptions.raise_compiler_error(
            totals['rejected'] ~ " of " ~ totals['considered'] ~ " rows are rejected, above the "
            ~ "reject_threshold of " ~ threshold ~ "; nothing was merged. Most frequent: "
            ~ named | join(', ') ~ ". See migration_rejects from the last run, or a dry run, "
            ~ "for the rows; fix them or raise reject_threshold.") }}
    {%- endif -%}
{%- endmacro %}
