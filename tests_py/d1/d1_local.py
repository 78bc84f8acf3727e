"""A wrangler local D1 (workerd, offline) shaped like production, for the
round-trip tests: the same engine the app's database runs on, reached only
through wrangler, as make d1-pull / d1-push reach it.

- LocalD1(folder) writes a wrangler.toml with one database and keeps its state
  under folder/.wrangler/state (wrangler's default beside the config);
- load_sqlite(path) puts a whole SQLite file (schema and rows) into it;
- execute(sql) / rows(sql) run SQL on it; execute_file(path) runs a file
  through `wrangler d1 execute --json`;
- snapshot() copies it into a SQLite file.

Setting up a state and reading it back is not what these tests are about, so
where the state holds one database (the usual case) they go straight to the
SQLite file in which workerd keeps it, with wrangler stopped, as the engine
itself would read and write it: a wrangler start-up costs seconds, and the
suite makes hundreds. The make d1-* steps under test always go through
wrangler, and so does everything on a config that declares several
databases (which file is which is workerd's business).
"""

import atexit
import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import PROJECT_DIR
from production_shape import make_production_shaped_sqlite

WRANGLER = PROJECT_DIR / "node_modules" / ".bin" / "wrangler"
SEEDS = PROJECT_DIR / "seeds"
ENV = dict(os.environ, WRANGLER_SEND_METRICS="false", NO_COLOR="1", CI="1")


# The app's own api/wrangler.toml in shape: one database per wrangler
# environment, every one bound as DB; production at the top level and again
# under [env.production].
APP_CONFIG = """name = "mirubato-api"
compatibility_date = "2026-01-01"

[[d1_databases]]
binding = "DB"
database_name = "mirubato-prod"
database_id = "00000000-0000-4000-8000-0000000000a1"

[env.local]
[[env.local.d1_databases]]
binding = "DB"
database_name = "mirubato-local"
database_id = "local-db"

[env.staging]
[[env.staging.d1_databases]]
binding = "DB"
database_name = "mirubato-dev"
database_id = "00000000-0000-4000-8000-0000000000b2"

[env.production]
[[env.production.d1_databases]]
binding = "DB"
database_name = "mirubato-prod"
database_id = "00000000-0000-4000-8000-0000000000a1"
"""


class LocalD1:
    """One database of a config; name is what D1_DATABASE says (a name or a
    binding), env the wrangler environment it is declared under."""

    def __init__(self, folder, name="practice", persist_to=None, env="", config_text=None):
        self.folder = Path(folder)
        self.persist_to = persist_to
        self.folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.env = env
        self.config = self.folder / "wrangler.toml"
        self.config.write_text(
            config_text
            or 'name = "practice-api"\ncompatibility_date = "2026-01-01"\n\n'
            f'[[d1_databases]]\nbinding = "DB"\ndatabase_name = "{name}"\n'
            'database_id = "6f1c2a4e-0000-4000-8000-000000000001"\n'
        )

    def make_env(self, **extra):
        """The environment of a make d1-* command on this database; a
        variable given as None is left out."""
        env = {
            **ENV,
            "D1_DATABASE": self.name,
            "WRANGLER_CONFIG": str(self.config),
            "D1_FILE": str(self.folder / "pulled" / f"{self.name}.db"),
            **({"D1_PERSIST_TO": str(self.persist_to)} if self.persist_to else {}),
            **({"WRANGLER_ENV": self.env} if self.env else {}),
            **{k: str(v) for k, v in extra.items() if v is not None},
        }
        return {k: v for k, v in env.items() if extra.get(k, "") is not None}

    def record(self):
        """What a pull of this database records as its source (scripts/d1/identity.py)."""
        sys.path.insert(0, str(PROJECT_DIR / "scripts" / "d1"))
        from identity import resolve

        return resolve(self.name, str(self.config), env=self.env).record()

    def _wrangler(self, *args):
        env_args = ["--env", self.env] if self.env else []
        proc = subprocess.run(
            [str(WRANGLER), "d1", *args, *env_args, "--config", str(self.config)],
            cwd=self.folder,
            env=ENV,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"wrangler {args[0]} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def execute_file(self, path):
        state = ["--persist-to", str(self.persist_to)] if self.persist_to else []
        return json.loads(
            self._wrangler("execute", self.name, "--local", "--file", str(path), "--json", *state)
        )

    def sqlite_file(self):
        """The SQLite file of the database (v3/d1/miniflare-D1DatabaseObject/
        <hash>.sqlite beside miniflare's metadata.sqlite), when its config
        declares no other database and the state holds exactly one file;
        else None. With several declared, the one file there may be
        another database's."""
        if self.config.read_text().count("d1_databases]]") != 1:
            return None
        state = Path(self.persist_to) if self.persist_to else self.folder / ".wrangler" / "state"
        folder = state / "v3" / "d1" / "miniflare-D1DatabaseObject"
        found = [p for p in folder.glob("*.sqlite") if p.name != "metadata.sqlite"]
        return found[0] if len(found) == 1 else None

    def execute(self, sql):
        """Run statements; on the state's file when it has one database."""
        path = self.sqlite_file()
        if path is None:
            self.execute_file(self.statement_file(sql))
            return
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("pragma foreign_keys = on")
            conn.executescript("begin;\n" + sql + "\n;\ncommit;")
        finally:
            conn.close()

    def rows(self, sql):
        """The rows of one query, as dicts."""
        path = self.sqlite_file()
        if path is None:
            return self.execute_file(self.statement_file(sql))[0]["results"]
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql)]
        finally:
            conn.close()

    def load_sqlite(self, db_path):
        """Every table, index, trigger and row of a SQLite file: into the
        state's file once wrangler has made it, else through wrangler."""
        self.execute("select 1")  # through wrangler while there is no file yet
        path = self.sqlite_file()
        if path is not None:
            copy_tables(db_path, path)
            return
        with sqlite3.connect(db_path) as conn:
            lines = [
                line
                for line in conn.iterdump()
                if line not in ("BEGIN TRANSACTION;", "COMMIT;")
                and not line.startswith('DELETE FROM "sqlite_sequence"')
                and not line.startswith('INSERT INTO "sqlite_sequence"')
            ]
        path = self.folder / "load.sql"
        # iterdump goes table by table in name order; a foreign key must find
        # its parent table, so every table first, then the rows, then the rest
        rank = {"CREATE TABLE": 0, "INSERT INTO": 1}
        lines.sort(key=lambda line: rank.get(line[:12].upper().rstrip(), 2))
        path.write_text("PRAGMA defer_foreign_keys = true;\n" + "\n".join(lines) + "\n")
        self.execute_file(path)

    def statement_file(self, sql):
        statement = self.folder / "statement.sql"
        statement.write_text(sql)
        return statement

    def snapshot(self, path):
        """D1's tables as a SQLite file: a copy of the state's file, or
        through wrangler d1 export."""
        source = self.sqlite_file()
        Path(path).unlink(missing_ok=True)
        if source is not None:
            with (
                sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src,
                sqlite3.connect(path) as dst,
            ):
                src.backup(dst)
            return path
        export = self.folder / "export.sql"
        self._wrangler("export", self.name, "--local", "--output", str(export))
        load = f"pragma journal_mode = off;\nbegin;\n.read '{export}'\ncommit;\n"
        subprocess.run(["sqlite3", str(path)], input=load, check=True, text=True)
        return path


def copy_tables(seed, path):
    """A SQLite file's tables, rows, indexes and triggers into another, in
    one transaction, with D1's foreign keys checked at the end."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"attach '{seed}' as seed")
        conn.execute("begin")
        schema = conn.execute(
            "select type, name, sql from seed.sqlite_master"
            " where sql is not null and name not like 'sqlite_%' order by rowid"
        ).fetchall()
        for kind, name, sql in schema:
            if kind == "table":
                conn.execute(sql)
                conn.execute(f'insert into main."{name}" select * from seed."{name}"')
        for kind, _, sql in schema:
            if kind != "table":
                conn.execute(sql)
        broken = conn.execute("pragma main.foreign_key_check").fetchall()
        if broken:
            raise AssertionError(f"the seed breaks D1's foreign keys: {broken[:5]}")
        conn.execute("commit")
    finally:
        conn.close()


def load_sample_backend(db_path):
    """The seeds' sample backend, as load_sample_backend_table reads them:
    an empty cell is NULL, <empty> is ''. D1 enforces foreign keys, so the
    samples' orphans (rows of unknown users or sessions) are left out."""
    with sqlite3.connect(db_path) as conn:
        for table in ("users", "practice_sessions", "goals", "logbook_entries"):
            with open(SEEDS / f"sample_{table}.csv", newline="") as handle:
                reader = csv.DictReader(handle)
                for row in reader:
                    cols = list(row)
                    values = [
                        None if v == "" else "" if v == "<empty>" else v for v in row.values()
                    ]
                    conn.execute(
                        f"insert into {table} ({', '.join(cols)})"
                        f" values ({', '.join('?' * len(cols))})",
                        values,
                    )
        drop_orphans(conn)


def drop_orphans(conn):
    """D1 enforces the backend's foreign keys: rows of unknown users go, and a
    logbook entry's unknown session becomes NULL."""
    for table in ("practice_sessions", "goals", "logbook_entries"):
        conn.execute(f"delete from {table} where user_id not in (select id from users)")
    conn.execute(
        "update logbook_entries set session_id = null"
        " where session_id not in (select id from practice_sessions)"
    )


# One seeded local D1 per kind, loaded through wrangler once and copied
# (config, wrangler's state folder and the seed) for every test that wants one.
_SEEDED = {}
_SEED_CACHE = Path(tempfile.mkdtemp(prefix="seeded-d1-"))
atexit.register(shutil.rmtree, _SEED_CACHE, ignore_errors=True)


def seeded_d1(folder, template_db, **kwargs):
    """A local D1 in production's shape holding the sample backend."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    kind = json.dumps(kwargs, sort_keys=True, default=str)
    if kind not in _SEEDED:
        cached = _SEED_CACHE / str(len(_SEEDED))
        cached.mkdir()
        seed = cached / "seed.db"
        shutil.copy(template_db, seed)
        make_production_shaped_sqlite(seed, with_sequence_table=True)
        load_sample_backend(seed)
        LocalD1(cached / "app", **kwargs).load_sqlite(seed)
        _SEEDED[kind] = cached
    shutil.copy(_SEEDED[kind] / "seed.db", folder / "seed.db")
    shutil.copytree(_SEEDED[kind] / "app", folder / "app", symlinks=True)
    return LocalD1(folder / "app", **kwargs)


# The seeded D1 after make d1-pull, pulled once and copied (config, wrangler's
# state, the pulled copy and its snapshot) for the tests whose pull is only
# their set-up. The pull recorded which D1 it read (pull_info's target, which
# names the folder); the copy's record names the copy's D1 instead, computed
# as the pull computes it, so that its migrate and push accept it.
_PULLED = {}


def pulled_d1(folder, template_db):
    """seeded_d1 after one make d1-pull."""
    if "pulled" not in _PULLED:
        cached = _SEED_CACHE / "pulled"
        d1 = seeded_d1(cached, template_db)
        proc = subprocess.run(
            ["make", "--no-print-directory", "d1-pull"],
            cwd=PROJECT_DIR,
            env=d1.make_env(),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert proc.returncode == 0, f"make d1-pull failed:\n{proc.stdout}\n{proc.stderr}"
        _PULLED["pulled"] = cached
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(_PULLED["pulled"] / "seed.db", folder / "seed.db")
    shutil.copytree(_PULLED["pulled"] / "app", folder / "app", symlinks=True)
    d1 = LocalD1(folder / "app")
    snapshot = Path(d1.make_env()["D1_FILE"] + ".pulled.db")
    assert not Path(d1.make_env()["D1_FILE"] + ".patch").exists()
    with sqlite3.connect(snapshot) as conn:
        info = json.loads(conn.execute("select info from pull_info").fetchone()[0])
        conn.execute(
            "update pull_info set info = ?", (json.dumps({**info, "target": d1.record()}),)
        )
    return d1
