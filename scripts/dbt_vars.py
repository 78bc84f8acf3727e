"""Print dbt --vars, or rollback's --args, (JSON, which is YAML) from the Makefile's variables.

USER_ID, ENTITIES (comma-separated) or ENTITY, DRY_RUN, COMPARE (all or
changed), and for rollback ALL and CONFIRM come from the environment, so that a user id with quotes in it
stays data all the way to dbt.

    scripts/dbt_vars.py              the vars of make migrate / make dry-run
    scripts/dbt_vars.py --rollback   the args of make rollback

A filter that is given but blank (`USER_ID=`, `USER_ID=$unset`, `ENTITIES= , `)
is refused: dropped, it would widen the run to every user or entity type.
"""

import json
import os
import sys

TRUE = ("1", "true", "yes")
FALSE = ("0", "false", "no")
FILTERS = ("USER_ID", "ENTITIES", "ENTITY")


class RefusedVars(Exception):
    """A filter that would widen the run; the message says what to do."""


def blank_filters(environ):
    """The filter variables that are set but hold nothing but blanks and commas."""
    return [
        name for name in FILTERS if name in environ and not environ[name].replace(",", " ").strip()
    ]


def check_filters(environ):
    blank = blank_filters(environ)
    if blank:
        raise RefusedVars(
            f"{'= and '.join(blank)}= is given but blank, which would widen the run to every"
            f" {'user' if blank[0] == 'USER_ID' else 'entity type'}; nothing was run."
            " Leave the variable out to cover everything, or give it a value."
        )


def flag(environ, name):
    """DRY_RUN, ALL, CONFIRM: unset is false; a value that is neither true nor
    false (blank, `on`) is refused: a DRY_RUN= read as false is a real run."""
    if name not in environ:
        return False
    value = environ[name].strip().lower()
    if value not in TRUE + FALSE:
        raise RefusedVars(
            f"{name}={environ[name]} is neither 1 nor 0 (or true/false, yes/no); nothing was run."
        )
    return value in TRUE


def entity_types(environ):
    entities, entity = environ.get("ENTITIES", ""), environ.get("ENTITY", "")
    if entities and entity:
        raise RefusedVars("make: give ENTITIES= or ENTITY=, not both. Nothing was run.")
    return [e.strip() for e in (entities or entity).split(",") if e.strip()]


def run_vars(environ, rollback=False, dry_run=None):
    """The vars (or rollback's args) the filters in environ ask for."""
    check_filters(environ)
    chosen = entity_types(environ)
    dbt_vars = {}
    if environ.get("USER_ID"):
        dbt_vars["user_id"] = environ["USER_ID"]
    if rollback:
        if chosen:
            dbt_vars["entity_types"] = chosen
        if flag(environ, "ALL"):
            dbt_vars["all"] = True
        if flag(environ, "CONFIRM"):
            dbt_vars["confirm"] = True
        if not dbt_vars:
            raise RefusedVars(
                "make rollback needs ENTITY=<type>, USER_ID=<id>, or ALL=1 CONFIRM=1"
                " (add DRY_RUN=1 to count only). Nothing was run."
            )
    elif chosen:
        dbt_vars["entity_types"] = chosen
    if flag(environ, "DRY_RUN") if dry_run is None else dry_run:
        dbt_vars["dry_run"] = True
    if not rollback and "COMPARE" in environ:
        compare = environ["COMPARE"].strip().lower()
        if compare not in ("all", "changed"):
            raise RefusedVars(
                f"COMPARE={environ['COMPARE']} is neither all (every key, the default) nor"
                " changed (the keys that may have changed since the last run); nothing was run."
            )
        dbt_vars["compare"] = compare
    return dbt_vars


def main():
    args = sys.argv[1:]
    try:
        if "--check" in args:
            check_filters(os.environ)
            return
        print(json.dumps(run_vars(os.environ, rollback="--rollback" in args)))
    except RefusedVars as refusal:
        sys.exit(str(refusal))


if __name__ == "__main__":
    main()
