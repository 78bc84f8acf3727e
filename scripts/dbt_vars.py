"""Print dbt --vars (JSON, which is YAML) from the Makefile's variables.

USER_ID, ENTITIES (comma-separated) and DRY_RUN come from the environment,
so that a user id with quotes in it stays data all the way to dbt.
"""

import json
import os

dbt_vars = {}
if os.environ.get("USER_ID"):
    dbt_vars["user_id"] = os.environ["USER_ID"]
if os.environ.get("ENTITIES"):
    dbt_vars["entity_types"] = [e.strip() for e in os.environ["ENTITIES"].split(",") if e.strip()]
if os.environ.get("DRY_RUN") in ("1", "true", "yes"):
    dbt_vars["dry_run"] = True
print(json.dumps(dbt_vars))
