{#
    No two rows share the same values in all of `combination` (a composite
    key). dbt_utils has one; dbt Hub is not reachable here.
#}
{% test unique_combination(model, combination) %}

select
    {{ combination | join(', ') }},
    count(*) as n_rows
from {{ model }}
group by {{ combination | join(', ') }}
having count(*) > 1

{% endtest %}
