"""Fixtures for tests that drive dbt against throwaway SQLite databases.

Each test gets its own database file (SYNC_DB_PATH) with the backend tables
and the API's sync_data table, built once per session by the project's own
`create_dev_tables` operation and copied.
"""

import atexit
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import dbt_process
import pytest

REPO_DIR = Path(__file__).resolve().parent.parent
# Files the tests copy or generate: never these folders.
GENERATED = (".venv", "node_modules", "target", "logs", "data", ".git", "__pycache__")


def copy_tree(source, copy):
    """The project at `source` copied to `copy` without its generated files;
    .venv and node_modules are shared through links."""
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(*GENERATED))
    (copy / ".venv").symlink_to(REPO_DIR / ".venv")
    if (REPO_DIR / "node_modules").exists():
        (copy / "node_modules").symlink_to(REPO_DIR / "node_modules")
    return copy


def worker_project():
    """Where this test process runs dbt and make: the repository, or for a
    pytest-xdist worker after the first its own copy, because dbt and make
    write target/ inside the project and two runs must not share it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    if worker == "gw0":
        return REPO_DIR
    scratch = Path(tempfile.mkdtemp(prefix=f"sync-tests-{worker}-"))
    atexit.register(shutil.rmtree, scratch, True)
    return copy_tree(REPO_DIR, scratch / "project")


PROJECT_DIR = worker_project()
# Fixtures kept beside the rows they load, for the tests of every component.
pytest_plugins = ["contract_rows"]
DBT = PROJECT_DIR / ".venv" / "bin" / "dbt"
ORACLE = PROJECT_DIR / "tests_py" / "js" / "contract_oracle.js"
CRYPTO_EXT = next(
    (PROJECT_DIR / ".venv" / "lib").glob("python3*/site-packages/sqlite_sqlean/crypto.so")
)
JS_JSON_EXT = PROJECT_DIR / ".venv" / "sqlite-extensions" / "js_json.so"

BACKEND_COLUMNS = {
    "users": ["id", "email", "display_name", "primary_instrument", "created_at", "updated_at"],
    "logbook_entries": [
        "id",
        "user_id",
        "timestamp",
        "duration",
        "type",
        "instrument",
        "pieces",
        "techniques",
        "goal_ids",
        "notes",
        "mood",
        "tags",
        "session_id",
        "metadata",
        "created_at",
        "updated_at",
    ],
    "goals": [
        "id",
        "user_id",
        "title",
        "description",
        "target_date",
        "progress",
        "milestones",
        "status",
        "linked_entries",
        "created_at",
        "updated_at",
        "completed_at",
    ],
    "practice_sessions": [
        "id",
        "user_id",
        "instrument",
        "sheet_music_id",
        "session_type",
        "started_at",
        "completed_at",
        "paused_duration",
        "accuracy_percentage",
        "notes_attempted",
        "notes_correct",
    ],
}
ENTITY_TABLES = {
    "logbook_entry": "logbook_entries",
    "goal": "goals",
    "practice_session": "practice_sessions",
}


def dbt_env(db_path, **extra):
    env = dict(os.environ)
    env.update(
        SYNC_DB_PATH=str(db_path),
        DBT_SEND_ANONYMOUS_USAGE_STATS="False",
        DO_NOT_TRACK="1",
        DBT_USE_COLORS="False",
        DBT_LOG_PATH=str(Path(db_path).parent / "logs"),
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_dbt(db_path, *args, expect_ok=True, env=None, project_dir=PROJECT_DIR):
    """Run the dbt CLI from the project directory (dbt_process: without importing
    dbt again); return the CompletedProcess."""
    proc = dbt_process.run(DBT, args, dbt_env(db_path, **(env or {})), project_dir, timeout=600)
    if expect_ok and proc.returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    if not expect_ok and proc.returncode == 0:
        raise AssertionError(f"dbt {' '.join(args)} succeeded, expected a failure:\n{proc.stdout}")
    return proc


def connect(db_path):
    conn = sqlite3.connect(db_path)
    conn.enable_load_extension(True)
    conn.load_extension(str(CRYPTO_EXT))
    return conn


@pytest.fixture(scope="session")
def template_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "template.db"
    run_dbt(path, "run-operation", "create_dev_tables")
    return path


def copy_project(copy):
    """A copy of the project without its generated files (.venv and
    node_modules are shared)."""
    return copy_tree(PROJECT_DIR, copy)


# Only the default dev database may be created from nothing (the launcher
# refuses any other missing path), so a fresh dev database needs its own
# copy of the project: run_dbt(DEFAULT_DEV_DB, ..., project_dir=copy).
DEFAULT_DEV_DB = "data/dev.db"


@pytest.fixture
def project_copy(tmp_path):
    """A copy of the project to change on purpose."""
    return copy_project(tmp_path / "project")


@pytest.fixture
def db(template_db, tmp_path):
    """A fresh database: empty backend tables and an empty sync_data."""
    path = tmp_path / "backend.db"
    shutil.copy(template_db, path)
    return path


def insert_rows(db_path, table, rows):
    """Insert dicts into a backend table; a column left out takes its DDL default."""
    with sqlite3.connect(db_path) as conn:
        for row in rows:
            columns = [c for c in BACKEND_COLUMNS[table] if c in row]
            conn.execute(
                f"insert into {table} ({', '.join(columns)}) values ({', '.join('?' * len(columns))})",
                [row[c] for c in columns],
            )


def fetch_sync_data(db_path, where="1 = 1", params=()):
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        return {
            (row["entity_type"], row["entity_id"]): dict(row)
            for row in conn.execute(f"select * from sync_data where {where}", params)
        }


def _json_ready(value):
    if isinstance(value, bytes):
        return {"$blob": value.hex()}
    return value


def oracle(items):
    """Run the JavaScript oracle on [{entity_type, row, user_exists}]."""
    payload = json.dumps(
        [{**item, "row": {k: _json_ready(v) for k, v in item["row"].items()}} for item in items]
    )
    proc = subprocess.run(
        ["node", str(ORACLE)], input=payload, capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout)


def oracle_for_database(db_path):
    """The oracle's verdict for every source row of the database, keyed like sync_data."""
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        users = {row[0] for row in conn.execute("select id from users")}
        items, keys = [], []
        for entity_type, table in ENTITY_TABLES.items():
            for row in conn.execute(f"select * from {table}"):
                row = dict(row)
                items.append(
                    {"entity_type": entity_type, "row": row, "user_exists": row["user_id"] in users}
                )
                keys.append((entity_type, row["id"]))
    return dict(zip(keys, oracle(items), strict=True))


def table_digest(db_path, tables):
    """Every row of the tables, in a stable order, with storage classes, and their DDL."""
    with sqlite3.connect(db_path) as conn:
        out = {}
        for table in tables:
            cols = [r[1] for r in conn.execute(f"pragma table_info({table})")]
            select = ", ".join(f"{c}, typeof({c})" for c in cols)
            out[table] = conn.execute(f"select {select} from {table} order by rowid").fetchall()
        out["schema"] = conn.execute(
            "select type, name, tbl_name, sql from sqlite_master"
            f" where tbl_name in ({', '.join('?' * len(tables))}) order by name",
            tables,
        ).fetchall()
        return out


# pytest-xdist (make test: --dist loadfile) hands each worker a whole module,
# in collection order. The longest start first, so that no worker is left
# alone with a long module at the end while the others idle (minutes of
# test time each, measured with --durations 0).
LONGEST_MODULES = [
    "d1/test_d1_safety.py",
    "merge/test_production_shape.py",
    "d1/test_d1.py",
    "operations/test_operator.py",
    "postgres/test_postgres.py",
    "contract/test_bad_input.py",
    "docs/test_documented_commands.py",
    "d1/test_d1_remote.py",
]


def pytest_collection_modifyitems(items):
    def rank(item):
        module = Path(str(item.fspath)).relative_to(REPO_DIR / "tests_py").as_posix()
        return LONGEST_MODULES.index(module) if module in LONGEST_MODULES else len(LONGEST_MODULES)

    items.sort(key=rank)
