"""The virtual environment's `dbt` command (make setup installs it as .venv/bin/dbt).

It runs dbt-core's own CLI after two checks that dbt cannot make itself:

- From a subfolder of the repository, dbt finds the project but not
  profiles.yml, and the profile's relative extension paths would name files
  that do not exist. So the launcher makes the paths of the SYNC_* variables
  absolute (they were meant relative to where the command was typed), then
  runs dbt from the project root.
- A SYNC_DB_PATH that names no file would be created empty by SQLite's
  connect, before any of the project's checks could run. A command that
  connects to the database is refused first, and nothing is created. Only
  the default dev database (data/dev.db) is ever created, by `make run`.
- A database or work file that is not SQLite fails inside dbt-sqlite's
  connect with a bare "file is not a database"; it is named here instead
  (scripts/check_sqlite_files.py).

And one change to what dbt-core remembers between runs: its partial parsing
keys the parsed project on the profile's connection info, which for
dbt-sqlite holds the database paths, so every new SYNC_DB_PATH (staging then
prod, a benchmark's copy, a test's scratch file) cost a full parse, 3 to 5 s.
The paths are read only when a connection opens or a hook runs, never while
the project is parsed, so the launcher leaves them out of that key
(keep_parse_across_paths). The same for the command line's vars: dbt
reparses everything when they change, in case a var decides a ref or a
config, and none does here.
"""

import importlib.util
import os
import sys
from pathlib import Path

# The commands that open the target database and whose run should find it
# (run-operation may create one: create_dev_tables makes scratch databases).
CONNECTING_COMMANDS = {
    "build",
    "clone",
    "compile",
    "debug",
    "docs",
    "retry",
    "run",
    "seed",
    "show",
    "snapshot",
    "source",
    "test",
}
COMMANDS = CONNECTING_COMMANDS | {"clean", "deps", "init", "list", "ls", "parse", "run-operation"}
PATH_VARIABLES = [
    "SYNC_DB_PATH",
    "SYNC_WORK_DB_PATH",
    "SYNC_SCHEMA_DIR",
    "SYNC_SQLITE_CRYPTO",
    "SYNC_SQLITE_JS_JSON",
    "DBT_LOG_PATH",
    "DBT_TARGET_PATH",
]
DEFAULT_DB = "data/dev.db"


def project_root(cwd):
    for folder in (cwd, *cwd.parents):
        if (folder / "dbt_project.yml").is_file():
            return folder
    # outside any project: the repository this .venv belongs to
    return Path(sys.argv[0]).absolute().parent.parent.parent


def option_value(args, *names):
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
            if len(name) == 2 and arg.startswith(name) and len(arg) > 2:
                return arg[2:]  # click's -tprod
    return None


def command_of(args):
    """The dbt subcommand: the first argument that names one (options may come first)."""
    for arg in args:
        if arg in COMMANDS:
            return arg
    return None


def refuse_missing_database(args):
    """One paragraph and exit 2 when SYNC_DB_PATH names no file."""
    if command_of(args) not in CONNECTING_COMMANDS:
        return
    if "--help" in args or "-h" in args:
        return
    target = option_value(args, "--target", "-t") or os.environ.get("DBT_TARGET", "dev")
    path = os.environ.get("SYNC_DB_PATH")
    if target == "postgres" or not path or path == DEFAULT_DB or Path(path).exists():
        return
    sys.stderr.write(
        f"The {target} database {path} does not exist. Check SYNC_DB_PATH: it must name the "
        "existing database file that holds the backend tables and sync_data (only the default "
        f"dev database, {DEFAULT_DB}, is created from the sample backend, when SYNC_DB_PATH is "
        "not set). Nothing was run and no file was created.\n"
    )
    sys.exit(2)


def refuse_unreadable_database(args, root):
    """One paragraph and exit 2 when the database or its work file is not SQLite.

    dbt-sqlite fails on such a file while it opens its connection, before the
    project's checks run, with a bare "file is not a database".
    """
    if command_of(args) not in CONNECTING_COMMANDS or "--help" in args or "-h" in args:
        return
    target = option_value(args, "--target", "-t") or os.environ.get("DBT_TARGET", "dev")
    path = os.environ.get("SYNC_DB_PATH") or DEFAULT_DB
    work = os.environ.get("SYNC_WORK_DB_PATH") or f"{path}.dbt-work"
    checker = root / "scripts" / "check_sqlite_files.py"
    if not checker.is_file():
        return
    spec = importlib.util.spec_from_file_location("check_sqlite_files", checker)
    check_sqlite_files = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_sqlite_files)
    code = check_sqlite_files.main(["check_sqlite_files.py", target, path, work])
    if code:
        sys.exit(code)


def keep_parse_across_paths():
    """Partial parsing stays valid when only the database paths or the vars
    given on the command line change.

    dbt-core hashes credentials.connection_info() into the parsed manifest's
    profile_hash; dbt-sqlite lists schemas_and_paths and schema_directory in
    it. Only that hash leaves them out: `dbt debug` still prints every key.
    It also hashes the command line's vars into vars_hash, since a var could
    change what a model refs or how it is configured. In this project no var
    does (test_no_ref_or_config_depends_on_a_var parses the project under
    every var and compares the dependencies and configs), so a run with
    other vars keeps the parsed project; the target stays in the hash, since
    seeds and unit tests are enabled by it.
    """
    try:
        from dbt.adapters.sqlite.connections import SQLiteCredentials
        from dbt.parser.manifest import ManifestLoader
    except ImportError:
        return
    shown = SQLiteCredentials._connection_keys
    build = ManifestLoader.build_manifest_state_check

    def build_without_paths(self):
        SQLiteCredentials._connection_keys = lambda credentials: [
            key
            for key in shown(credentials)
            if key not in ("schemas_and_paths", "schema_directory")
        ]
        cli_vars = self.root_project.cli_vars
        self.root_project.cli_vars = {}
        try:
            return build(self)
        finally:
            SQLiteCredentials._connection_keys = shown
            self.root_project.cli_vars = cli_vars

    ManifestLoader.build_manifest_state_check = build_without_paths


def main():
    args = sys.argv[1:]
    cwd = Path.cwd()
    root = project_root(cwd)
    explicit = option_value(args, "--project-dir") or os.environ.get("DBT_PROJECT_DIR")
    if not explicit and root != cwd:
        for name in PATH_VARIABLES:
            value = os.environ.get(name)
            if value and not os.path.isabs(value):
                os.environ[name] = str(cwd / value)
        os.chdir(root)
    refuse_missing_database(args)
    refuse_unreadable_database(args, root)
    if not os.environ.get("SYNC_DB_PATH") and Path.cwd() == root:
        # a fresh clone has no data/ folder for the default dev database
        (root / "data").mkdir(exist_ok=True)

    keep_parse_across_paths()
    from dbt.cli.main import cli

    sys.argv[0] = "dbt"
    sys.exit(cli())


if __name__ == "__main__":
    main()
