"""The virtual environment's `sqlfluff` command (make setup installs it as
.venv/bin/sqlfluff): sqlfluff's own CLI, with sqlparse's grouping limits
lifted as dbt's CLI lifts them.

dbt injects ephemeral models into the SQL that refers to them with sqlparse,
which since 0.5.5 refuses a statement of more than 10,000 tokens. dbt's CLI
lifts that limit on every command (its --sqlparse option defaults to none);
sqlfluff's dbt templater calls dbt's compiler without that CLI, so a model
whose compiled SQL is longer, staging CTEs included, was skipped with a
warning instead of linted.
"""

import re
import sys

import sqlparse.engine.grouping
from sqlfluff.cli.commands import cli

if __name__ == "__main__":
    sqlparse.engine.grouping.MAX_GROUPING_DEPTH = None
    sqlparse.engine.grouping.MAX_GROUPING_TOKENS = None
    sys.argv[0] = re.sub(r"(-script\.pyw|\.exe)?$", "", sys.argv[0])
    sys.exit(cli())
