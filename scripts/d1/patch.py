"""make d1-migrate's second half: the patch, a SQL file of what the run changed.

The migration ran on the pulled file exactly as on any SQLite file. The patch
is the difference between that file and what the pull saw (<file>.pulled.db),
written as guarded statements for `wrangler d1 execute --file`:

- a sync_data insert applies only while D1 has no row of that key (nor of
  that id) and its user still exists; an update only while D1's row still has
  the checksum, deleted_at and version the pull saw. A row the API wrote in
  between is left alone;
- where sync_data has seq, each write takes D1's sync_sequence.current_value
  + 1 at push time, and the next statement moves the sequence up to the
  row's number (only when the write applied, and never down);
- the migration's own rows follow: the ledger and conflicts only where D1's
  sync_data row is now what the run left locally (a skipped write leaves its
  ledger entry where it was), the rejects always. The run history is not in
  the parts: the push writes it last, counted from what applied (history.json
  keeps the runs as the copy recorded them);
- every value is a hex literal, so nothing in a document can reach the SQL
  as SQL, and wrangler's "BEGIN TRANSACTION" edit finds nothing to edit;
- a value over PIECE bytes travels in pieces through migration_push_pieces,
  each statement under D1's 100 KB limit.

Every statement is idempotent, so applying the patch again, or again after a
cut-off push, ends where one uninterrupted push ends. The statements are
written by SQL queries over the two files; Python only cuts them into files
(parts) that wrangler sends one batch each.
"""

import json
import os
import sqlite3
from pathlib import Path

from identity import check_same
from pull import patch_dir, snapshot_path
from tables import (
    ENTITY_TYPES,
    OWN_TABLES,
    SEQUENCE,
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
# one wrangler batch, which D1 runs alone: small enough not to hold the API up
PART_BYTES = int(os.environ.get("D1_PART_BYTES", "4000000"))
LARGE = {SYNC_DATA: "data", "migration_conflicts": "lost_document", "migration_rejects": "value"}
PIECES_TABLE = "migration_push_pieces"
# written by the push, last, with what applied
HISTORY = "migration_runs"
EXPECTED = "expected.db"


def key_match(table_alias, key, source_alias="n"):
    return " and ".join(f"{table_alias}.{quoted(k)} is {source_alias}.{quoted(k)}" for k in key)


def where_key_sql(key, alias="n"):
    """SQL building ' where k1 is <literal> and ...' for the row of alias."""
    parts = [f"'{quoted(k)} is ' || {literal(f'{alias}.{quoted(k)}')}" for k in key]
    return " || ' and ' || ".join(parts)


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
        union all
        select ord, 3, 0, 'delete from {PIECES_TABLE} where piece_key = ''' || piece_key || ''''
        from long_value
    """


def sync_state_guard(alias="n"):
    """SQL building the condition 'D1's sync_data row of this key is as the run
    left it locally' (local row: s, may be missing)."""
    key = where_key_sql(SYNC_KEY, alias)
    return (
        f"(case when s.id is null then 'not exists (select 1 from sync_data where ' || {key} || ')'"
        f" else 'exists (select 1 from sync_data where ' || {key}"
        f" || ' and checksum is ' || {literal('s.checksum')}"
        f" || ' and deleted_at is ' || {literal('s.deleted_at')} || ')' end)"
    )


def sync_data_changes(conn, tag):
    types = ", ".join(f"'{t}'" for t in ENTITY_TYPES)
    conn.execute("drop table if exists temp.change_sync_data")
    conn.execute(
        f"""create temp table change_sync_data as
        select row_number() over (order by n.user_id, n.entity_type, n.entity_id) as ord,
            '{tag}:s:' || row_number() over (order by n.user_id, n.entity_type, n.entity_id)
                as piece_key,
            n.*, p.user_id is null as is_insert, p.checksum as p_checksum,
            p.deleted_at as p_deleted_at, p.version as p_version
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


def sync_data_statements(conn):
    cols = columns(conn, SYNC_DATA)
    has_seq = "seq" in cols
    next_seq = f"(select current_value + 1 from {SEQUENCE} where id = 1)"
    insert_values = " || ', ' || ".join(
        f"'{next_seq}'" if c == "seq" else value_sql(SYNC_DATA, c) for c in cols
    )
    updated = [
        c
        for c in ("data", "checksum", "version", "updated_at", "deleted_at", "device_id", "seq")
        if c in cols
    ]
    assignments = " || ', ' || ".join(
        f"'{quoted(c)} = {next_seq}'"
        if c == "seq"
        else f"'{quoted(c)} = ' || {value_sql(SYNC_DATA, c)}"
        for c in updated
    )
    key = where_key_sql(SYNC_KEY)
    main = f"""
        select ord, 1 as step, 0 as sub, case when is_insert then
            'insert into sync_data ({", ".join(quoted(c) for c in cols)}) select '
            || {insert_values}
            || ' where not exists (select 1 from sync_data where ' || {key} || ')'
            || ' and not exists (select 1 from sync_data where id = ' || {literal("n.id")} || ')'
            -- a user the API deleted after the pull: no row, not a failed part
            || ' and exists (select 1 from users where id = ' || {literal("n.user_id")} || ')'
        else
            'update sync_data set ' || {assignments} || ' where ' || {key}
            || ' and checksum is ' || {literal("n.p_checksum")}
            || ' and deleted_at is ' || {literal("n.p_deleted_at")}
            || ' and version is ' || {literal("n.p_version")}
        end as statement
        from change_sync_data as n
    """
    selects = [main, pieces_sql("change_sync_data", SYNC_DATA)]
    if has_seq:
        selects.append(
            f"""select ord, 2, 0, 'update {SEQUENCE} set current_value = max(current_value,'
            || ' coalesce((select seq from sync_data where ' || {key} || '), 0)) where id = 1'
            from change_sync_data as n"""
        )
    return selects


def own_table_statements(conn, table, spec, pulled_tables, tag, first_ord):
    """Upserts and deletes of one of the migration's tables, keyed by spec."""
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
    where = where_key_sql(key)
    guard = f" || ' and ' || {sync_state_guard()}" if spec["guarded"] else ""
    join = f"left join main.sync_data as s on {key_match('s', SYNC_KEY)}" if spec["guarded"] else ""
    non_key = [c for c in cols if c not in key]
    assignments = " || ', ' || ".join(f"'{quoted(c)} = ' || {value_sql(table, c)}" for c in non_key)
    values = " || ', ' || ".join(value_sql(table, c) for c in cols)
    selects = [
        f"""select ord, 1 as step, 0 as sub,
            'delete from {table} where ' || {where}{guard} as statement
        from change_{table} as n {join} where is_delete""",
        f"""select ord, 1, 0, 'update {table} set ' || {assignments} || ' where ' || {where}{guard}
        from change_{table} as n {join} where not is_delete""",
        f"""select ord, 2, 0, 'insert into {table} ({", ".join(map(quoted, cols))}) select '
            || {values} || ' where not exists (select 1 from {table} where ' || {where} || ')'
            {guard}
        from change_{table} as n {join} where not is_delete""",
    ]
    if table in LARGE:
        selects.append(pieces_sql(f"change_{table}", table))
    return selects


def write_parts(conn, selects, folder):
    """Cut the ordered statements into parts at row boundaries."""
    folder.mkdir(parents=True, exist_ok=True)
    conn.execute("drop table if exists temp.patch_statement")
    conn.execute("create temp table patch_statement (ord, step, sub, statement)")
    for select in selects:
        conn.execute(f"insert into temp.patch_statement {select}")
    parts, size, current, last_ord, handle = [], 0, None, None, None
    cursor = conn.execute("select ord, statement from temp.patch_statement order by ord, step, sub")
    for ord_, statement in cursor:
        if len(statement.encode()) > STATEMENT_LIMIT - 1000:
            raise D1Error(f"a patch statement is {len(statement)} bytes, over D1's limit")
        if FORBIDDEN in statement.upper():
            raise D1Error("a patch statement holds BEGIN TRANSACTION; wrangler would edit it")
        if handle is None or (size > PART_BYTES and ord_ != last_ord):
            if handle:
                handle.close()
            current = folder / f"part-{len(parts) + 1:05d}.sql"
            parts.append(current.name)
            handle, size = open(current, "w"), 0
        handle.write(statement + ";\n")
        size += len(statement) + 2
        last_ord = ord_
    if handle:
        handle.close()
    return parts


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


def write_expected(conn, folder):
    """What the push reads back against: every patched key as the pull saw it
    and as the run left it, and the keys of the run's new conflicts. Kept
    with the patch, so that a later run on the copy cannot change what this
    patch is checked against."""
    conn.execute(f"attach '{folder / EXPECTED}' as expected")
    conn.execute(
        "create table expected.change_sync_data as select ord, user_id, entity_type,"
        " entity_id, checksum, deleted_at, version, is_insert, p_checksum, p_deleted_at,"
        " p_version from temp.change_sync_data"
    )
    conflicts = "select user_id, entity_type, entity_id from main.migration_conflicts"
    if "migration_conflicts" not in tables(conn):
        conflicts = "select null as user_id, null as entity_type, null as entity_id where 0"
    elif "migration_conflicts" in tables(conn, "pulled"):
        conflicts += (
            " except select user_id, entity_type, entity_id from pulled.migration_conflicts"
        )
    conn.execute(f"create table expected.conflict_keys as {conflicts}")
    conn.execute("detach expected")


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
    queries = sync_data_statements(conn)
    present, pulled_tables = tables(conn), tables(conn, "pulled")
    for index, (table, spec) in enumerate(OWN_TABLES.items(), start=1):
        if table in present and table != HISTORY:
            queries += own_table_statements(conn, table, spec, pulled_tables, tag, index * 10**10)
    folder = patch_dir(path)
    if folder.exists():
        for old in folder.glob("*"):
            old.unlink()
    parts = write_parts(conn, queries, folder)
    write_expected(conn, folder)
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
    for table in OWN_TABLES:
        if table in present and table != HISTORY:
            counts[table] = conn.execute(f"select count(*) from change_{table}").fetchone()[0]
    counts[HISTORY] = len(history)
    manifest = {
        "pulled": info,
        "parts": parts,
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
