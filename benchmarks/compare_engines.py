"""The same backend on SQLite and PostgreSQL: time a first run and a run
with nothing changed on each engine, and compare every document.

    scripts/with_postgres.sh .venv/bin/python benchmarks/compare_engines.py \
        [--logbook N --goals N --sessions N --users N]

Builds a backend with generate_backend.py (SQLite), copies it into a fresh
PostgreSQL schema (the server SYNC_PG_* names), runs `dbt run` twice on
each and prints the wall-clock times and the number of rows whose data or
checksum differ between the engines (expected: 0).
"""

import argparse
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR / "tests_py"))

from conftest import run_dbt  # noqa: E402
from pg import PostgresSchema, mirror_backend  # noqa: E402


def timed(action):
    started = time.monotonic()
    action()
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--logbook", type=int, default=100_000)
    parser.add_argument("--goals", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="compare-engines-"))
    db = work / "backend.db"
    subprocess.run(
        [
            sys.executable,
            str(PROJECT_DIR / "benchmarks" / "generate_backend.py"),
            "build",
            str(db),
            *("--users", str(args.users), "--logbook", str(args.logbook)),
            *("--goals", str(args.goals), "--sessions", str(args.sessions)),
        ],
        check=True,
    )
    pg = PostgresSchema(work)
    try:
        copy_seconds = timed(lambda: mirror_backend(db, pg))
        times = {
            "postgres first run": timed(lambda: pg.dbt("run")),
            "postgres no change": timed(lambda: pg.dbt("run")),
            "sqlite first run": timed(lambda: run_dbt(db, "run")),
            "sqlite no change": timed(lambda: run_dbt(db, "run")),
        }
        with sqlite3.connect(db) as conn:
            on_sqlite = {
                (row[0], row[1]): (row[2], row[3])
                for row in conn.execute(
                    "select entity_type, entity_id, data, checksum from sync_data"
                )
            }
        on_postgres = {
            (row["entity_type"], row["entity_id"]): (row["data"], row["checksum"])
            for row in pg.query(
                f"select entity_type, entity_id, data, checksum from {pg.schema}.sync_data"
            )
        }
    finally:
        pg.close()
        shutil.rmtree(work, ignore_errors=True)
    different = sum(
        1
        for key in on_sqlite.keys() | on_postgres.keys()
        if on_sqlite.get(key) != on_postgres.get(key)
    )
    print(f"rows: sqlite {len(on_sqlite)}, postgres {len(on_postgres)}, different {different}")
    print(f"copy into postgres: {copy_seconds:.1f} s (not part of a run)")
    for label, seconds in times.items():
        print(f"{label}: {seconds:.1f} s")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
