"""Print dbt --vars, or rollback's --args, (JSON, which is YAML) from the Makefile's variables.

USER_ID, ENTITIES (comma-separated) or ENTITY, DRY_RUN, and for rollback ALL
and CONFIRM come from the environment, so that a user id with quotes in it
stays data all the way to dbt.

    scripts/dbt_vars.py              the vars of make migrate / make dry-run
    scripts/dbt_vars.py --rollback   the args of make rollback
"""

import json
import os
import sys

TRUE = ("1", "true", "yes")


def flag(name):
    return os.environ.get(name, "").lower() in TRUE


def entity_types():
    entities, entity = os.environ.get("ENTITIES", ""), os.environ.get("ENTITY", "")
    if entities and entity:
        sys.exit("make: give ENTITIES= or ENTITY=, not both. Nothing was run.")
    return [e.strip() for e in (entities or entity).split(",") if e.strip()]


def main():
    chosen = entity_types()
    dbt_vars = {}
    if os.environ.get("USER_ID"):
        dbt_vars["user_id"] = os.environ["USER_ID"]
    if "--rollback" in sys.argv[1:]:
        if chosen:
            dbt_vars["entity_types"] = chosen
        if flag("ALL"):
            dbt_vars["all"] = True
        if flag("CONFIRM"):
            dbt_vars["confirm"] = True
        if not dbt_vars:
            sys.exit(
                "make rollback needs ENTITY=<type>, USER_ID=<id>, or ALL=1 CONFIRM=1"
                " (add DRY_RUN=1 to count only). Nothing was run."
            )
    elif chosen:
        dbt_vars["entity_types"] = chosen
    if flag("DRY_RUN"):
        dbt_vars["dry_run"] = True
    print(json.dumps(dbt_vars))


if __name__ == "__main__":
    main()
