"""Turn a fresh test database into the shape production has now, and write into
it the way the API does (contract, "The schema production has now").

The fixtures build the tables the migration was designed against; production
has moved on since (seq and sync_sequence, device_id, soft-delete columns, the
old script's migration_runs). The migration must work unchanged on either
shape, so tests need the newer one too, on both engines:

- make_production_shaped_sqlite(db_path) / make_production_shaped_postgres(pg)
  alter a database made by create_dev_tables (the template copy, a
  pg.PostgresSchema);
- api_insert / api_update / api_soft_delete write sync_data rows as the API
  does, each in its own transaction that takes the next number of
  sync_sequence, so a test can interleave API writes with migration runs;
- seq_invariants says whether the numbering is still sound afterwards.

The API functions take a DB-API connection and engine = "sqlite" (sqlite3,
paramstyle ?) or "postgres" (psycopg2, paramstyle %s). They begin and end their
transaction themselves, so the connection must not be inside one already:
- sqlite3: either isolation level (the default, or isolation_level=None);
  the transaction is opened with BEGIN IMMEDIATE, which takes the write lock at
  once, so a concurrent writer waits (the connection's timeout, 5 s by
  default) and then fails with "database is locked", as two D1 writers would;
- psycopg2: autocommit on (as PostgresSchema.conn is) or off; sync_sequence's
  row lock serialises concurrent writers.
"""

import hashlib
import json
import sqlite3
from contextlib import closing, contextmanager
from datetime import UTC, datetime

from conftest import ENTITY_TABLES

ENGINES = ("sqlite", "postgres")

# The old TypeScript script's own history table, column for column.
SCRIPT_COLUMNS = (
    "id",
    "entity_type",
    "last_processed_id",
    "processed_count",
    "error_count",
    "started_at",
    "completed_at",
)
# Three runs of the script, in SCRIPT_COLUMNS order; ids are
# migration_<unix ms of the run>_<entity type>, as the script made them. The
# practice_session run crashed (completed_at NULL) after two batches of 100,
# so the README's totals leave it out.
SCRIPT_HISTORY = [
    (
        "migration_1700000000000_logbook_entry",
        "logbook_entry",
        "entry_0199",
        200,
        0,
        "2023-11-14 22:13:20",
        "2023-11-14 22:13:31",
    ),
    (
        "migration_1700000000000_goal",
        "goal",
        "goal_0036",
        37,
        2,
        "2023-11-14 22:13:31",
        "2023-11-14 22:13:33",
    ),
    (
        "migration_1700000360000_practice_session",
        "practice_session",
        "session_0199",
        200,
        1,
        "2023-11-14 22:19:20",
        None,
    ),
]

# What the script's README told operators to run. Only the script's seven
# columns: whatever the migration does to migration_runs, these must still
# work and still show SCRIPT_HISTORY. The table name is unqualified, as in the
# README; on PostgreSQL run them after `set search_path to <schema>`.
SCRIPT_README_QUERIES = {
    "history": (
        "select id, entity_type, last_processed_id, processed_count, error_count,"
        " started_at, completed_at from migration_runs order by started_at desc"
    ),
    "totals": (
        "select entity_type, sum(processed_count) as total_processed,"
        " sum(error_count) as total_errors from migration_runs"
        " where completed_at is not null group by entity_type order by entity_type"
    ),
}


def _name(table, schema):
    return f"{schema}.{table}" if schema else table


def _check_engine(engine):
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")


def _sql(engine, text):
    """Write SQL with ? placeholders; psycopg2 wants %s (none of ours has a literal ? or %)."""
    _check_engine(engine)
    return text.replace("?", "%s") if engine == "postgres" else text


@contextmanager
def _transaction(conn, engine):
    """One transaction on conn, committed on success, rolled back on any error.

    A transaction we BEGIN ourselves is also ended with SQL, since psycopg2's
    commit() does nothing in autocommit mode.
    """
    _check_engine(engine)
    if engine == "sqlite" and conn.in_transaction:
        raise RuntimeError("the sqlite3 connection is inside a transaction already")
    # psycopg2 without autocommit opens a transaction itself on the first statement
    own_begin = engine == "sqlite" or conn.autocommit
    cur = conn.cursor()
    try:
        if own_begin:
            # IMMEDIATE: take SQLite's write lock now, not at the first write
            cur.execute("begin immediate" if engine == "sqlite" else "begin")
        yield cur
    except BaseException:
        if own_begin:
            # SQLite may have rolled back already (e.g. on SQLITE_FULL)
            if engine == "postgres" or conn.in_transaction:
                cur.execute("rollback")
        else:
            conn.rollback()
        raise
    else:
        if own_begin:
            cur.execute("commit")
        else:
            conn.commit()
    finally:
        cur.close()


# --- the schema change -------------------------------------------------------

# Columns the API's migrations added, in SQLite's (D1's) declared types.
BACKEND_ADDITIONS = {
    **{
        table: [
            ("sync_version", "integer default 1"),
            ("checksum", "text"),
            ("deleted_at", "datetime"),
            ("device_id", "text"),
        ]
        for table in ENTITY_TABLES.values()
    },
    "users": [("auth_provider", "text"), ("google_id", "text")],
}
BACKEND_ADDITIONS["practice_sessions"] = [
    *BACKEND_ADDITIONS["practice_sessions"],
    ("updated_at", "datetime"),
]


def _shape_statements(engine, schema, with_sequence_table):
    """The DDL of the production shape, in the engine's types."""
    pg = engine == "postgres"
    statements = []
    for table, columns in BACKEND_ADDITIONS.items():
        for column, sqlite_type in columns:
            # PostgreSQL: the translation backend_ddl_for_engine applies to the
            # backend's DDL (integer -> numeric, DATETIME -> text, as D1 stores it)
            declared = (
                sqlite_type.replace("integer", "numeric").replace("datetime", "text")
                if pg
                else sqlite_type
            )
            statements.append(f"alter table {_name(table, schema)} add column {column} {declared}")
    sync_data = _name("sync_data", schema)
    # bigint on PostgreSQL: D1's INTEGER is 64-bit, PostgreSQL's integer is not
    seq_type = "bigint" if pg else "integer"
    statements += [
        f"alter table {sync_data} add column device_id text",
        f"alter table {sync_data} add column seq {seq_type}",
        # NULLs do not collide: rows written before seq existed keep a NULL one
        f"create unique index idx_sync_data_seq on {sync_data} (seq)",
        f"create index idx_sync_data_user_type_seq on {sync_data} (user_id, entity_type, seq)",
    ]
    if with_sequence_table:
        sequence = _name("sync_sequence", schema)
        statements += [
            f"create table {sequence} (id integer primary key check (id = 1),"
            f" current_value {seq_type} not null default 0)",
            f"insert into {sequence} (id, current_value)"
            f" select 1, coalesce(max(seq), 0) from {sync_data}",
        ]
    # The script's DDL; its TIMESTAMP DEFAULT CURRENT_TIMESTAMP becomes on
    # PostgreSQL what create_sync_data_table makes of the same words.
    runs = _name("migration_runs", schema)
    default_now = "(now() at time zone 'utc')" if pg else "current_timestamp"
    statements += [
        f"drop table if exists {runs}",
        f"create table {runs} (id text primary key, entity_type text not null,"
        " last_processed_id text, processed_count integer, error_count integer,"
        f" started_at timestamp default {default_now}, completed_at timestamp)",
    ]
    return statements


def _apply_shape(conn, engine, schema, with_sequence_table):
    # One transaction: a half-altered database would test nothing real.
    with _transaction(conn, engine) as cur:
        for statement in _shape_statements(engine, schema, with_sequence_table):
            cur.execute(statement)
        insert = _sql(
            engine,
            f"insert into {_name('migration_runs', schema)} ({', '.join(SCRIPT_COLUMNS)})"
            f" values ({', '.join('?' * len(SCRIPT_COLUMNS))})",
        )
        for row in SCRIPT_HISTORY:
            cur.execute(insert, row)


def make_production_shaped_sqlite(db_path, with_sequence_table=True):
    """Alter a SQLite database of create_dev_tables into production's shape.

    with_sequence_table=False leaves sync_data.seq without sync_sequence: the
    state in which the migration must create the table itself.
    """
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        _apply_shape(conn, "sqlite", None, with_sequence_table)


def make_production_shaped_postgres(pg_schema, with_sequence_table=True):
    """The same on a pg.PostgresSchema (its conn, in its schema)."""
    _apply_shape(pg_schema.conn, "postgres", pg_schema.schema, with_sequence_table)


# --- the API's writes --------------------------------------------------------


def js_stringify(obj):
    """JSON.stringify for plain ASCII documents (no floats JavaScript writes differently)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _document(data):
    """data as stored: text as given, anything else through js_stringify."""
    return data if isinstance(data, str) else js_stringify(data)


def _now_text():
    # like SQLite's CURRENT_TIMESTAMP: UTC, whole seconds
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def next_seq(conn, engine, schema=None):
    """Take the next number from sync_sequence, as the API does: current_value
    + 1, stored back. Call it inside the write's transaction (it neither
    begins nor commits), so the number and the row commit together."""
    sequence = _name("sync_sequence", schema)
    with closing(conn.cursor()) as cur:
        cur.execute(f"update {sequence} set current_value = current_value + 1 where id = 1")
        if cur.rowcount != 1:
            raise LookupError(f"{sequence} has no row with id 1")
        cur.execute(f"select current_value from {sequence} where id = 1")
        return cur.fetchone()[0]


def _api_write(conn, engine, schema, sql, params_before_seq, key):
    """Run one of the API's statements with a fresh seq; return that seq.
    The statement's last four parameters are seq and the row's key."""
    with _transaction(conn, engine) as cur:
        seq = next_seq(conn, engine, schema)
        cur.execute(_sql(engine, sql), (*params_before_seq, seq, *key))
        if cur.rowcount != 1:
            # rolled back with the number: the API touches an existing row or fails
            raise LookupError(f"no sync_data row {key}")
        return seq


def api_insert(
    conn, engine, user_id, entity_type, entity_id, data, device_id="device-1", schema=None
):
    """Insert a sync_data row as the API does (version 1); return its seq."""
    data = _document(data)
    checksum = hashlib.sha256(data.encode()).hexdigest()
    now = _now_text()
    sync_data = _name("sync_data", schema)
    with _transaction(conn, engine) as cur:
        seq = next_seq(conn, engine, schema)
        cur.execute(
            _sql(
                engine,
                f"insert into {sync_data} (id, user_id, entity_type, entity_id, data,"
                " checksum, version, created_at, updated_at, device_id, seq)"
                " values (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
            ),
            (f"sync_api_{entity_id}", user_id, entity_type, entity_id, data, checksum)
            + (now, now, device_id, seq),
        )
        return seq


def api_update(conn, engine, user_id, entity_type, entity_id, data, device_id=None, schema=None):
    """A new document for an existing row (version + 1; deleted_at untouched); return its seq."""
    data = _document(data)
    return _api_write(
        conn,
        engine,
        schema,
        f"update {_name('sync_data', schema)} set data = ?, checksum = ?,"
        " version = version + 1, updated_at = ?, device_id = ?, seq = ?"
        " where user_id = ? and entity_type = ? and entity_id = ?",
        (data, hashlib.sha256(data.encode()).hexdigest(), _now_text(), device_id),
        (user_id, entity_type, entity_id),
    )


def api_soft_delete(conn, engine, user_id, entity_type, entity_id, device_id=None, schema=None):
    """Soft-delete a row as the API does (deleted_at set, data kept, version + 1); return its seq."""
    now = _now_text()
    return _api_write(
        conn,
        engine,
        schema,
        f"update {_name('sync_data', schema)} set deleted_at = ?,"
        " version = version + 1, updated_at = ?, device_id = ?, seq = ?"
        " where user_id = ? and entity_type = ? and entity_id = ?",
        (now, now, device_id),
        (user_id, entity_type, entity_id),
    )


# --- checks ------------------------------------------------------------------


def _table_exists(cur, engine, table, schema):
    if engine == "postgres":
        cur.execute("select to_regclass(%s) is not null", (_name(table, schema),))
    else:
        cur.execute(
            f"select count(*) > 0 from {_name('sqlite_master', schema)}"
            " where type = 'table' and name = ?",
            (table,),
        )
    return bool(cur.fetchone()[0])


def seq_invariants(conn, engine, schema=None):
    """What is wrong with the numbering the real-time sync relies on, as a
    list of sentences (empty = sound): every seq used once, and
    sync_sequence's one row at the largest seq, so that the API's next
    number is above every row's (a row at or below a client's last seen
    number is never sent)."""
    problems = []
    sync_data = _name("sync_data", schema)
    with closing(conn.cursor()) as cur:
        cur.execute(
            f"select seq, count(*) from {sync_data} where seq is not null"
            " group by seq having count(*) > 1 order by seq"
        )
        duplicates = cur.fetchall()
        if duplicates:
            problems.append(f"seq used more than once (seq, rows): {duplicates}")
        cur.execute(f"select coalesce(max(seq), 0) from {sync_data}")
        top = cur.fetchone()[0]
        if not _table_exists(cur, engine, "sync_sequence", schema):
            problems.append("sync_sequence does not exist")
        else:
            cur.execute(f"select id, current_value from {_name('sync_sequence', schema)}")
            rows = [tuple(row) for row in cur.fetchall()]
            if rows != [(1, top)]:
                problems.append(f"sync_sequence holds {rows}, expected [(1, {top})]")
    return problems
