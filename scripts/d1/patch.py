"""make d1-migrate's second half: the patch, SQL files of what the run changed.

The migration ran on the pulled file exactly as on any SQLite file. The patch
is the difference between that file and what the pull saw (<file>.pulled.db):
every changed row of sync_data and of the migration's own tables, with what
the pull saw of it, written as parts for `wrangler d1 execute --file`. How a
part writes D1 without overwriting the API's writes (stage tables, then a
few set-based guarded statements) is guard.py's.

- every value is a literal built by SQL (quoted, or hex when it holds a
  control character or the words wrangler edits), so nothing in a document
  can reach the SQL as SQL;
- a value over PIECE bytes travels in pieces through migration_push_pieces,
  each statement under D1's 100 KB limit;
- the run history is not in the parts: the push writes it last, counted from
  what applied (history.json keeps the runs as the copy recorded them).

The tuples are written by SQL queries over the two files; Python only cuts
them into statements and parts.
"""

import json
import os
import sqlite3
from pathlib import Path

from guard import (
    PIECES_DDL,
    PIECES_TABLE,
    own_apply,
    stage_ddl,
    stage_insert,
    sync_apply,
    tuple_sql,
)
from identity import check_same
from pull import patch_dir, snapshot_path
from tables import (
    ENTITY_TYPES,
    OWN_TABLES,
    SYNC_DATA,
    SYNC_KEY,
    columns,
    connect,
    literal,
    quoted,
    tables,
)
from wrangler import FORBIDDEN, STATEMENT_LIMIT, D1Error, Refused

PIECE = 24_000  # bytes of a value per statement (48 KB of hex)
# One part is one wrangler batch: locally one transaction; remotely one
# import, during which D1 serves the API nothing, against one HTTP round trip
# and one upload per part. Remotely about 20,000 rows a part (a sample row and
# its ledger entry take about 1.5 KB of patch), locally smaller batches.
PART_BYTES = {"local": 4_000_000, "remote": 32_000_000}
# bytes of one multi-row insert into a stage: wrangler's local splitter takes
# longer per byte the longer the statement (D1_NOTES.md: 1.5 MB in 90 KB
# statements 13 s, in 10 KB 5 s)
STAGE_STATEMENT = 10_000
LARGE = {SYNC_DATA: "data", "migration_conflicts": "lost_document", "migration_rejects": "value"}
# written by the push, last, with what applied
HISTORY = "migration_runs"
FORMAT = 2  # the patch's layout: stage tables (guard.py)


def key_match(table_alias, key, source_alias="n"):
    return " and ".join(f"{table_alias}.{quoted(k)} is {source_alias}.{quoted(k)}" for k in key)


def part_bytes(target):
    given = os.environ.get("D1_PART_BYTES", "").strip()
    if not given:
        return PART_BYTES["remote" if target.remote else "local"]
    try:
        return int(given)
    except ValueError:
        raise Refused(f"D1_PART_BYTES={given!r} is not a number of bytes") from None


def value_sql(table, col, alias="n"):
    """The literal of a value, or a read of its pieces when it is too long."""
    plain = literal(f"{alias}.{quoted(col)}")
    if LARGE.get(table) != col:
        return plain
    return (
        f"(case when length(cast({alias}.{quoted(col)} as blob)) > {PIECE}"
        f" then '(select cast(value as text) from {PIECES_TABLE} where piece_key = '''"
        f" || {alias}.piece_key || ''')' else {plain} end)"
    )


def pieces_sql(change_table, table):
    """Statements that build each long value in migration_push_pieces."""
    col = quoted(LARGE[table])
    return f"""
        with recursive
        long_value as (
            select ord, piece_key, cast({col} as blob) as bytes
            from {change_table} where length(cast({col} as blob)) > {PIECE}
        ),
        piece (ord, piece_key, offset_at) as (
            select ord, piece_key, 1 from long_value
            union all
            select piece.ord, piece.piece_key, piece.offset_at + {PIECE}
            from piece join long_value on long_value.ord = piece.ord
            where piece.offset_at + {PIECE} <= length(long_value.bytes)
        )
        select piece.ord, 0 as step, piece.offset_at as sub,
            case when piece.offset_at = 1
                then 'insert or replace into {PIECES_TABLE} (piece_key, value) values ('''
                    || piece.piece_key || ''', x''' || hex(substr(bytes, 1, {PIECE})) || ''')'
                else 'update {PIECES_TABLE} set value = value || x'''
                    || hex(substr(bytes, piece.offset_at, {PIECE}))
                    || ''' where piece_key = ''' || piece.piece_key || ''''
            end as statement
        from piece join long_value on long_value.ord = piece.ord
    """


def new_conflict_keys(conn):
    """The keys of the conflicts the runs on the copy recorded since the pull."""
    conn.execute("drop table if exists temp.new_conflict_keys")
    conflicts = "select user_id, entity_type, entity_id from main.migration_conflicts"
    if "migration_conflicts" not in tables(conn):
        conflicts = "select null as user_id, null as entity_type, null as entity_id where 0"
    elif "migration_conflicts" in tables(conn, "pulled"):
        conflicts += (
            " except select user_id, entity_type, entity_id from pulled.migration_conflicts"
        )
    conn.execute(f"create temp table new_conflict_keys as {conflicts}")


def sync_data_changes(conn, tag):
    types = ", ".join(f"'{t}'" for t in ENTITY_TYPES)
    new_conflict_keys(conn)
    conn.execute("drop table if exists temp.change_sync_data")
    conn.execute(
        f"""create temp table change_sync_data as
        select row_number() over (order by n.user_id, n.entity_type, n.entity_id) as ord,
            '{tag}:s:' || row_number() over (order by n.user_id, n.entity_type, n.entity_id)
                as piece_key,
            n.*, p.user_id is null as is_insert, p.checksum as p_checksum,
            p.deleted_at as p_deleted_at, p.version as p_version,
            exists (select 1 from temp.new_conflict_keys as c where {key_match("c", SYNC_KEY)})
                as is_conflict
        from main.sync_data as n
        left join pulled.sync_data_state as p
            on p.user_id = n.user_id and p.entity_type = n.entity_type
            and p.entity_id = n.entity_id
        where n.entity_type in ({types})
            and (p.user_id is null or n.checksum is not p.checksum
                or n.deleted_at is not p.deleted_at or n.version is not p.version)"""
    )
    lost = conn.execute(
        "select count(*) from pulled.sync_data_state as p where not exists (select 1 from"
        " main.sync_data as n where n.user_id = p.user_id and n.entity_type = p.entity_type"
        " and n.entity_id = p.entity_id)"
    ).fetchone()[0]
    if lost:
        raise D1Error(
            f"{lost} sync_data row(s) the pull saw are gone from the local file; the patch never"
            " deletes rows. Pull again, then migrate. No patch was written."
        )


def own_table_changes(conn, table, spec, pulled_tables, tag, first_ord):
    """The changed rows of one of the migration's tables (upserts, then the
    deletes of rows the run cleared), with the local sync_data state their
    guard compares D1 with."""
    cols = columns(conn, table)
    key = spec["key"]
    pulled_cols = columns(conn, table, "pulled") if table in pulled_tables else []
    changed = f"select * from main.{quoted(table)}"
    if pulled_cols == cols:
        changed += f" except select * from pulled.{quoted(table)}"
    conn.execute(f"drop table if exists temp.change_{table}")
    conn.execute(
        f"""create temp table change_{table} as
        select {first_ord} + row_number() over (order by {", ".join(quoted(k) for k in key)}) as ord,
            '{tag}:{table}:' || row_number() over () as piece_key, 0 as is_delete, c.*
        from ({changed}) as c"""
    )
    if table in pulled_tables:
        conn.execute(
            f"""insert into change_{table} (ord, piece_key, is_delete, {", ".join(map(quoted, key))})
            select {first_ord} + 1000000000 + row_number() over (), '', 1,
                {", ".join("p." + quoted(k) for k in key)}
            from pulled.{quoted(table)} as p
            where not exists (select 1 from main.{quoted(table)} as n where {key_match("n", key, "p")})"""
        )
    # the guard's view of sync_data; a table that describes runs has none
    guarded = spec["guarded"]
    return f"""select n.*, {"s.id is not null" if guarded else "0"} as s_present,
            {"s.checksum" if guarded else "null"} as s_checksum,
            {"s.deleted_at" if guarded else "null"} as s_deleted_at
        from change_{table} as n
        {f"left join main.sync_data as s on {key_match('s', SYNC_KEY)}" if guarded else ""}"""


def patch_rows(conn, tag):
    """Every row the patch carries, as (table, ord, kind, sub, text) in the
    order the parts take them: the pieces of a long value (kind 0) before
    its row's stage tuple (kind 1)."""
    conn.execute("drop table if exists temp.patch_row")
    conn.execute("create temp table patch_row (table_name, ord, kind, sub, text)")
    sync_cols = columns(conn, SYNC_DATA)
    conn.execute(
        f"insert into temp.patch_row select '{SYNC_DATA}', ord, 1, 0,"
        f" {tuple_sql(SYNC_DATA, sync_cols, value_sql)} from change_sync_data as n"
    )
    conn.execute(
        f"insert into temp.patch_row select '{SYNC_DATA}', ord, 0, sub, statement"
        f" from ({pieces_sql('change_sync_data', SYNC_DATA)})"
    )
    specs = {}
    present, pulled_tables = tables(conn), tables(conn, "pulled")
    for index, (table, spec) in enumerate(OWN_TABLES.items(), start=1):
        if table not in present or table == HISTORY:
            continue
        rows = own_table_changes(conn, table, spec, pulled_tables, tag, index * 10**10)
        cols = columns(conn, table)
        specs[table] = (cols, spec)
        conn.execute(
            f"insert into temp.patch_row select '{table}', ord, 1, 0,"
            f" {tuple_sql(table, cols, value_sql)} from ({rows}) as n"
        )
        if table in LARGE:
            conn.execute(
                f"insert into temp.patch_row select '{table}', ord, 0, sub, statement"
                f" from ({pieces_sql(f'change_{table}', table)})"
            )
    return sync_cols, specs


class Parts:
    """Cuts the rows into parts of about limit bytes, between rows. A part:
    the pieces of its long values, each table's stage (created if missing)
    filled by multi-row inserts, then guard.py's writes of its rows."""

    def __init__(self, folder, limit, sync_cols, specs):
        self.folder, self.limit = folder, limit
        self.cols = {SYNC_DATA: sync_cols, **{t: c for t, (c, _) in specs.items()}}
        self.specs = specs
        self.names, self.stages, self.last_ord = [], {}, None
        self._reset()

    def _reset(self):
        self.pieces, self.tuples, self.ranges, self.size = [], {}, {}, 0

    def add(self, table, ord_, kind, text):
        # a new part only at a new row: a long value's pieces and the row
        # that reads them travel together (a part empties the pieces table)
        if ord_ != self.last_ord and self.size > self.limit:
            self.flush()
        self.last_ord = ord_
        if kind == 0:
            self.pieces.append(text)
        else:
            self.tuples.setdefault(table, []).append(text)
            low, _ = self.ranges.get(table, (ord_, ord_))
            self.ranges[table] = (low, ord_)
        self.size += len(text) + 2

    def flush(self):
        if not self.tuples:
            return
        statements = [PIECES_DDL, *self.pieces] if self.pieces else []
        for table, tuples in self.tuples.items():
            cols = self.cols[table]
            self.stages[table] = stage_ddl(table, cols)
            statements.append(self.stages[table])
            head, chunk = stage_insert(table, cols), []
            for text in tuples:
                if (
                    chunk
                    and len(head) + sum(len(t) + 2 for t in chunk) + len(text) > STAGE_STATEMENT
                ):
                    statements.append(head + ",\n".join(chunk))
                    chunk = []
                chunk.append(text)
            statements.append(head + ",\n".join(chunk))
            low, high = self.ranges[table]
            if table == SYNC_DATA:
                statements += sync_apply(cols, low, high)
            else:
                spec = self.specs[table][1]
                statements += own_apply(table, cols, spec["key"], spec["guarded"], low, high)
        if self.pieces:
            statements.append(f"delete from {PIECES_TABLE}")
        for statement in statements:
            if len(statement.encode()) > STATEMENT_LIMIT - 1000:
                raise D1Error(f"a patch statement is {len(statement)} bytes, over D1's limit")
            if FORBIDDEN in statement.upper():
                raise D1Error("a patch statement holds BEGIN TRANSACTION; wrangler would edit it")
        name = f"part-{len(self.names) + 1:05d}.sql"
        (self.folder / name).write_text("".join(s + ";\n" for s in statements))
        self.names.append(name)
        self._reset()


def write_parts(conn, folder, limit, sync_cols, specs):
    folder.mkdir(parents=True, exist_ok=True)
    parts = Parts(folder, limit, sync_cols, specs)
    cursor = conn.execute(
        "select table_name, ord, kind, text from temp.patch_row order by ord, kind, sub"
    )
    for table, ord_, kind, text in cursor:
        parts.add(table, ord_, kind, text)
    parts.flush()
    return parts.names, parts.stages


def pulled_record(path):
    """Which database the copy at path was pulled from (pull_info's target)."""
    snapshot = snapshot_path(path)
    if not Path(path).exists() or not snapshot.exists():
        raise Refused(f"{path} has not been pulled (no {snapshot.name}): run make d1-pull first.")
    conn = sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)
    try:
        info = json.loads(conn.execute("select info from pull_info").fetchone()[0])
    finally:
        conn.close()
    return info.get("target") or {}


def history_rows(conn):
    """The history rows the copy changed since the pull, as it recorded them:
    the runs made on the copy ("new") and the older rows an upgrade reshaped."""
    if HISTORY not in tables(conn):
        return []
    changed = f"select * from main.{HISTORY}"
    known = "0"
    if HISTORY in tables(conn, "pulled"):
        if columns(conn, HISTORY, "pulled") == columns(conn, HISTORY):
            changed += f" except select * from pulled.{HISTORY}"
        known = f"c.id in (select id from pulled.{HISTORY})"
    cursor = conn.execute(f"select c.*, not ({known}) as is_new from ({changed}) as c")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def copy_state(conn):
    """A cheap fingerprint of the copy: any later run on it changes it (every
    run adds history rows)."""
    present = tables(conn)
    parts = [
        f"(select count(*) || '/' || total(version) || '/' || max(updated_at) from {SYNC_DATA})"
    ]
    for table in OWN_TABLES:
        if table in present:
            parts.append(f"(select count(*) from {quoted(table)})")
    return conn.execute("select " + " || ':' || ".join(parts)).fetchone()[0]


def make_patch(path, target):
    path = Path(path)
    check_same(pulled_record(path), target, "migrate", str(path))
    snapshot = snapshot_path(path)
    conn = connect(path)
    conn.execute(f"attach '{snapshot}' as pulled")
    info = json.loads(conn.execute("select info from pulled.pull_info").fetchone()[0])
    tag = info["pulled_at"].replace(" ", "T")
    sync_data_changes(conn, tag)
    sync_cols, specs = patch_rows(conn, tag)
    folder = patch_dir(path)
    if folder.exists():
        for old in folder.glob("*"):
            old.unlink()
    parts, stages = write_parts(conn, folder, part_bytes(target), sync_cols, specs)
    # the push creates every stage afresh, so that its read-back finds them
    stages = {
        SYNC_DATA: stage_ddl(SYNC_DATA, sync_cols),
        **{t: stage_ddl(t, c) for t, (c, _) in specs.items()},
        **stages,
    }
    history = history_rows(conn)
    (folder / "history.json").write_text(json.dumps(history, indent=1) + "\n")
    counts = dict(
        zip(
            ("inserts", "updates", "tombstones", "revivals"),
            conn.execute(
                "select coalesce(sum(is_insert), 0), coalesce(sum(not is_insert), 0),"
                " coalesce(sum(deleted_at is not null and p_deleted_at is null), 0),"
                " coalesce(sum(deleted_at is null and p_deleted_at is not null), 0)"
                " from change_sync_data"
            ).fetchone(),
            strict=True,
        )
    )
    for table in specs:
        counts[table] = conn.execute(f"select count(*) from change_{table}").fetchone()[0]
    counts[HISTORY] = len(history)
    manifest = {
        "format": FORMAT,
        "pulled": info,
        "parts": parts,
        "stages": stages,
        "counts": counts,
        "seq": "seq" in columns(conn, SYNC_DATA),
        "copy_state": copy_state(conn),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    conn.close()
    size = sum((folder / p).stat().st_size for p in parts)
    print(
        f"d1-migrate: patch {folder} ({len(parts)} part(s), {size:,} bytes): sync_data "
        f"{counts['inserts']} insert(s), {counts['updates']} update(s) (of which "
        f"{counts['tombstones']} tombstone(s), {counts['revivals']} revival(s)); "
        + ", ".join(f"{t} {counts[t]}" for t in OWN_TABLES if t in counts)
        + ". Nothing has reached D1: make d1-push applies it."
    )
    return manifest
