"""Lint PostgreSQL's function macros (macros/adapters/postgres_functions/).

    usage: lint_postgres_functions.py [FILE ...]   (default: every file there)

sqlfluff's dbt templater skips macro files, and its jinja templater renders a
file that only defines a macro as nothing. These files are plain SQL with the
schema as their one parameter, so each is rendered here (the macro called with
the default work schema, public_work) and the result linted by sqlfluff with
the project's .sqlfluff rules in the postgres dialect. Violations are reported
at the file's own line numbers. sqlfluff reads a function's body ($$ ... $$)
as a string literal: the bodies are checked by PostgreSQL itself, with
check_function_bodies and plpgsql_check (tests_py/postgres/test_postgres_functions.py).
Exits 1 when anything is found. The pre-commit hook runs it (make lint).
"""

import re
import sys
from pathlib import Path

import jinja2

PROJECT_DIR = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = PROJECT_DIR / "macros" / "adapters" / "postgres_functions"
INSTALL_MACRO = PROJECT_DIR / "macros" / "adapters" / "install_js_functions.sql"
MACRO_PREFIX = "postgres_function__"
LINT_SCHEMA = "public_work"
MACRO_TAG = re.compile(r"{%-?\s*macro\s+(\w+)\s*\(([^)]*)\)\s*-?%}")
CALL = re.compile(r"{{\s*" + MACRO_PREFIX + r"(\w+)\(work_schema\)\s*}}")


def function_files():
    return sorted(FUNCTIONS_DIR.glob("*.sql"))


def install_order():
    """The function names postgres__install_js_functions installs, in order."""
    text = INSTALL_MACRO.read_text()
    body = text[text.index("macro postgres__install_js_functions(") :]
    return CALL.findall(body)


def render(path, schema):
    """The file's macro called with `schema`, rendered as dbt renders it. Any
    name but `schema` is an error: the files stay plain SQL."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    module = env.from_string(path.read_text()).module
    macro = getattr(module, MACRO_PREFIX + path.stem, None)
    if macro is None:
        raise ValueError(f"{path}: defines no macro {MACRO_PREFIX}{path.stem}")
    return str(macro(schema))


def first_rendered_line(path):
    """The file line that holds the rendered text's first line (the macro tag
    ends with -%}, so its body starts on the next line)."""
    text = path.read_text()
    match = MACRO_TAG.search(text)
    return text.count("\n", 0, match.end()) + 2


def violations(paths):
    """["file:line:col: CODE description", ...] of sqlfluff on each rendered file."""
    from sqlfluff.core import FluffConfig, Linter

    config = FluffConfig.from_path(
        str(PROJECT_DIR), overrides={"dialect": "postgres", "templater": "raw"}
    )
    linter = Linter(config=config)
    found = []
    for path in paths:
        path = Path(path).resolve()
        offset = first_rendered_line(path) - 1
        result = linter.lint_string(render(path, LINT_SCHEMA) + "\n", fname=str(path))
        for v in result.get_violations():
            where = f"{path.relative_to(PROJECT_DIR)}:{v.line_no + offset}:{v.line_pos}"
            found.append(f"{where}: {v.rule_code()} {v.desc()}")
    return found


def main(argv):
    paths = [Path(p) for p in argv] or function_files()
    found = violations(paths)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
