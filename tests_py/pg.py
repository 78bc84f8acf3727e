"""The PostgreSQL side of the tests: one schema per test in the server that
scripts/with_postgres.sh (make test, CI) starts, named by SYNC_PG_TEST_*.
The tests never read the SYNC_PG_* variables an operator sets for a real run:
a shell pointed at production cannot aim the tests at it by accident.

Rows reach PostgreSQL as SQLite stored them: a fixture is inserted into a
SQLite database first (so D1's column affinities apply), then copied value by
value. A value that a typed PostgreSQL column cannot hold (text in an INTEGER
column, a BLOB, a NUL character) makes its row SQLite-only; `mirror_backend`
names those rows. '' in an optional Unix-ms column (goals.target_date,
goals.completed_at) becomes NULL, which the contract reads the same way.
"""

import os
import sqlite3
import uuid

import psycopg2
import psycopg2.extras
import pytest
from conftest import BACKEND_COLUMNS, run_dbt

# The PostgreSQL backend's types (backend_ddl_for_engine): every other column is text.
NUMERIC_COLUMNS = {
    "logbook_entries": {"timestamp", "duration", "created_at", "updated_at"},
    "goals": {"target_date", "progress", "created_at", "updated_at", "completed_at"},
    "practice_sessions": {
        "paused_duration",
        "accuracy_percentage",
        "notes_attempted",
        "notes_correct",
    },
    "users": set(),
}
TABLE_ORDER = ["users", "practice_sessions", "logbook_entries", "goals"]
# Where the contract reads '' exactly as NULL ("NULL, '' or 0 -> null").
EMPTY_IS_NULL = {("goals", "target_date"), ("goals", "completed_at")}


def server_settings():
    port = os.environ.get("SYNC_PG_TEST_PORT")
    if not port:
        pytest.fail(
            "No PostgreSQL test server: run the tests through scripts/with_postgres.sh "
            "(make test does), or set SYNC_PG_TEST_HOST/PORT/USER/DATABASE."
        )
    return {
        "host": os.environ.get("SYNC_PG_TEST_HOST", "127.0.0.1"),
        "port": int(port),
        "user": os.environ.get("SYNC_PG_TEST_USER", "postgres"),
        "password": os.environ.get("SYNC_PG_TEST_PASSWORD", ""),
        "dbname": os.environ.get("SYNC_PG_TEST_DATABASE", "sync"),
    }


class PostgresSchema:
    """A fresh schema with the backend tables and sync_data, for one test."""

    def __init__(self, tmp_path):
        self.schema = "t_" + uuid.uuid4().hex[:12]
        self.tmp_path = tmp_path
        self.conn = psycopg2.connect(**server_settings())
        self.conn.autocommit = True
        self.execute(f"create schema {self.schema}")
        self.dbt("run-operation", "create_dev_tables", "--vars", "{scratch_database: true}")

    def settings(self):
        """The SYNC_PG_* variables an operator sets, naming this schema."""
        settings = server_settings()
        return {
            "SYNC_PG_HOST": settings["host"],
            "SYNC_PG_PORT": settings["port"],
            "SYNC_PG_USER": settings["user"],
            "SYNC_PG_PASSWORD": settings["password"],
            "SYNC_PG_DATABASE": settings["dbname"],
            "SYNC_PG_SCHEMA": self.schema,
        }

    def dbt(self, *args, expect_ok=True):
        """dbt against this schema (target postgres); logs beside the test."""
        return run_dbt(
            self.tmp_path / "pg-placeholder.db",
            *args,
            "--target",
            "postgres",
            expect_ok=expect_ok,
            env=self.settings(),
        )

    def execute(self, sql, params=()):
        with self.conn.cursor() as cur:
            cur.execute(sql, params)

    def query(self, sql, params=()):
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def sync_data(self):
        rows = self.query(f"select * from {self.schema}.sync_data")
        return {(r["entity_type"], r["entity_id"]): r for r in rows}

    def close(self):
        self.execute(f"drop schema if exists {self.schema} cascade")
        self.execute(f"drop schema if exists {self.schema}_work cascade")
        self.conn.close()


def mirror_backend(sqlite_path, pg):
    """Copy the backend rows of a SQLite database into pg; return the
    {(table, id)} of rows PostgreSQL cannot hold (left out)."""
    left_out = set()
    with sqlite3.connect(sqlite_path) as conn:
        for table in TABLE_ORDER:
            columns = BACKEND_COLUMNS[table]
            # each value, its storage class, and SQLite's own text of it
            read = ", ".join(f"{c}, typeof({c}), cast({c} as text)" for c in columns)
            batch = []
            for values in conn.execute(f"select {read} from {table}"):
                row = {}
                fits = True
                for i, column in enumerate(columns):
                    value, storage, as_text = values[3 * i : 3 * i + 3]
                    if storage == "blob" or (storage == "text" and "\x00" in value):
                        # PostgreSQL text holds no NUL character
                        fits = False
                    elif column in NUMERIC_COLUMNS[table]:
                        if storage == "text" and value == "" and (table, column) in EMPTY_IS_NULL:
                            value = None
                        else:
                            fits = fits and storage in ("integer", "real", "null")
                    elif storage in ("integer", "real"):
                        # a number in a text column (DATETIME): as SQLite writes it
                        value = as_text
                    row[column] = value
                if fits:
                    batch.append([row[c] for c in columns])
                else:
                    left_out.add((table, row["id"]))
            with pg.conn.cursor() as cur:
                psycopg2.extras.execute_values(
                    cur,
                    f"insert into {pg.schema}.{table} ({', '.join(columns)}) values %s",
                    batch,
                    page_size=1000,
                )
    return left_out
