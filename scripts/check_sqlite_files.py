"""Stop before dbt when the database file or its work file is not SQLite.

    usage: check_sqlite_files.py TARGET DB_PATH [WORK_DB_PATH]

dbt-sqlite attaches the work file while it opens its connection, and SQLite
reads the database's schema to do so: a file that is not a database fails
there, before any of the project's macros or hooks run, and dbt prints a bare
"file is not a database" without the path. The Makefile (check-db) and the
weekly job run this first, so that the message names the file and says what
to do. Opened read-only: nothing is written, nothing is created. A missing or
empty file is left to the other checks (SQLite treats it as a new database).
Exits 2 with one paragraph on stderr, else 0.
"""

import sqlite3
import sys
from pathlib import Path
from urllib.parse import quote

NOT_SQLITE = {"SQLITE_NOTADB", "SQLITE_CORRUPT"}


def not_sqlite(path):
    """SQLite's reason why the file is not a readable database, or None."""
    if not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
        try:
            conn.execute("select count(*) from sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        # locked, unreadable and the like are not about the file's content
        if getattr(exc, "sqlite_errorname", None) in NOT_SQLITE:
            return str(exc)
    return None


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2
    target, db = argv[1], argv[2]
    if target == "postgres":
        return 0
    work = argv[3] if len(argv) == 4 and argv[3] else f"{db}.dbt-work"
    reason = not_sqlite(Path(db))
    if reason:
        print(
            f"The {target} database {db} is not a SQLite database ({reason}): SYNC_DB_PATH "
            "names a file that is not the backend's database, or the file is damaged. Check "
            "SYNC_DB_PATH, and if it is right restore the database from a backup. Nothing was "
            "run and no file was changed.",
            file=sys.stderr,
        )
        return 2
    reason = not_sqlite(Path(work))
    if reason:
        print(
            f"The work file {work} of the {target} database {db} is not a SQLite database "
            f"({reason}). It holds only dbt's working tables: delete it (the next run rebuilds "
            "it) or check SYNC_WORK_DB_PATH. Nothing was run and no file was changed.",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
