"""Which D1 tables the round trip reads and writes, and how it names their rows."""

import re
import sqlite3
from pathlib import Path


def contract_entity_tables():
    """The entity types and the backend table each comes from, read from the
    project's one list (macros/contract/entity_types.sql), in its order."""
    macro = Path(__file__).resolve().parents[2] / "macros" / "contract" / "entity_types.sql"
    body = re.search(r"migration_entity_tables\(\).*?\{(.*?)\}", macro.read_text(), re.S)
    return dict(re.findall(r"'(\w+)': '(\w+)'", body.group(1)))


ENTITY_TABLES = contract_entity_tables()
# Read only: the migration's sources. All four must exist in D1.
BACKEND = ("users", *ENTITY_TABLES.values())
# The API's table, created by the API's own migrations; the push changes only
# rows of the migration's entity types, and only where D1 still holds what the
# pull saw.
SYNC_DATA = "sync_data"
ENTITY_TYPES = tuple(ENTITY_TABLES)
SYNC_KEY = ("user_id", "entity_type", "entity_id")
# sync_data's seq numbers: read, never copied back. Every push takes its
# numbers from D1's own sequence at the time of the push.
SEQUENCE = "sync_sequence"
# The migration's own tables, created in D1 by the first push when missing.
# Each row is named by its key columns. A "guarded" row describes a sync_data
# row and is written only where that row is in D1 as the migration left it
# locally; the run history and the rejects describe runs and are always written.
OWN_TABLES = {
    "migration_runs": {"key": ("id",), "guarded": False},
    "migration_rejects": {"key": ("entity_type", "entity_key"), "guarded": False},
    "migration_ledger": {"key": SYNC_KEY, "guarded": True},
    "migration_conflicts": {"key": (*SYNC_KEY, "kind", "first_run_id"), "guarded": True},
}
PULLED = (*BACKEND, SYNC_DATA, SEQUENCE, *OWN_TABLES)
KEYS = {table: ("id",) for table in (*BACKEND, SYNC_DATA, SEQUENCE)}
KEYS.update({table: spec["key"] for table, spec in OWN_TABLES.items()})

# A value as an SQL literal that survives wrangler and D1 byte for byte. Text
# goes quoted (quote() doubles its quotes) when it is plain: no control
# character and not the words wrangler edits ("BEGIN TRANSACTION", in any case
# to be safe); any other text, and blobs, go as hex. Reals get 17 significant
# digits, which read back as the same double. Every "case" follows a "(":
# wrangler's statement splitter takes " case " for the start of a block that
# only an upper-case " END " closes, and would glue the statements after it.
CONTROL = "'*[' || char(" + ", ".join(str(n) for n in range(1, 32)) + ") || ']*'"
LITERAL = (
    "(case typeof({v}) when 'null' then 'null'"
    " when 'integer' then cast({v} as text)"
    " when 'real' then printf('%!.17g', {v})"
    " when 'text' then (case when instr({v}, char(0)) = 0"
    f" and not {{v}} glob {CONTROL}"
    " and instr(upper({v}), 'BEGIN ' || 'TRANSACTION') = 0 then quote({v})"
    " else 'cast(x''' || hex({v}) || ''' as text)' end)"
    " else 'x''' || hex({v}) || '''' end)"
)


def literal(expression):
    """SQL that turns the value of expression into the text of a literal."""
    return LITERAL.format(v=expression)


def quoted(name):
    return '"' + name.replace('"', '""') + '"'


def columns(conn, table, schema="main"):
    return [row[1] for row in conn.execute(f"pragma {schema}.table_info({quoted(table)})")]


def tables(conn, schema="main"):
    query = f"select name from {schema}.sqlite_master where type = 'table'"
    return {row[0] for row in conn.execute(query)}


def connect(path):
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("pragma cache_size = -262144")
    return conn
