"""The guard: the SQL by which a patch writes D1 without overwriting what the
API wrote since the pull. One module, read by patch.py (which writes the
parts) and push.py (which reads the outcome back).

A part of the patch carries rows, not statements per row:

1. each changed row goes, with what the pull saw of it, into a stage table
   of its own (migration_push_<table>: ord, the guard's columns, then the
   table's columns, untyped so that every value keeps its storage class), in
   multi-row inserts under D1's 100 KB statement limit;
2. a handful of set-based statements then write the part's rows from the
   stage, each only where D1 still holds what the pull saw:
   - sync_data: one statement marks the rows that apply (an insert: no row
     of that key nor of that id, and the user exists; an update: checksum,
     deleted_at and version as pulled) and numbers them in key order; the
     inserts and updates then take seq = sync_sequence.current_value + that
     number, and the sequence moves up by the count, never down;
   - the ledger and conflicts: only where D1's sync_data row is now what the
     run left locally; the rejects always;
3. after the last part, one query reads the outcome of every staged
   sync_data row back (applied, skipped, not applied), counted by D1; the
   stage is then emptied.

Every statement is idempotent: a part applied again stages the same rows,
finds its work done and writes nothing. A part runs as one batch (locally
one transaction, remotely one import), so the sequence cannot move under it.
Every "case" follows a "(" (wrangler's statement splitter, D1_NOTES.md).
"""

from tables import SEQUENCE, SYNC_DATA, SYNC_KEY, literal, quoted

PIECES_TABLE = "migration_push_pieces"
PIECES_DDL = f"create table if not exists {PIECES_TABLE} (piece_key text primary key, value blob)"
# the guard's columns of each stage, before the table's own
SYNC_GUARD = ("ord", "is_insert", "p_checksum", "p_deleted_at", "p_version", "is_conflict", "rn")
OWN_GUARD = ("ord", "is_delete", "s_present", "s_checksum", "s_deleted_at")
# sync_data's columns an update writes (those D1 has)
UPDATED = ("data", "checksum", "version", "updated_at", "deleted_at", "device_id")


def stage(table):
    return f"migration_push_{table}"


def stage_columns(table, cols):
    """(the guard's columns, the table's columns) of a table's stage; seq is
    never staged: the push takes it from D1's sequence."""
    if table == SYNC_DATA:
        return SYNC_GUARD, [c for c in cols if c != "seq"]
    return OWN_GUARD, list(cols)


def stage_ddl(table, cols):
    """The stage of a table: untyped columns keep every literal's storage
    class, so the write from the stage stores what a direct insert would."""
    guard, names = stage_columns(table, cols)
    rest = ", ".join(quoted(c) for c in (*guard[1:], *names))
    return f"create table if not exists {stage(table)} (ord integer primary key, {rest})"


def stage_insert(table, cols):
    """The head of a multi-row insert into the stage (tuples follow)."""
    guard, names = stage_columns(table, cols)
    staged = [c for c in guard if c != "rn"] + names
    return f"insert or replace into {stage(table)} ({', '.join(map(quoted, staged))}) values "


def tuple_sql(table, cols, value_sql):
    """SQL giving, per change row (alias n), the text of its stage tuple: the
    guard's values, then the table's (a long one read from its pieces)."""
    guard, names = stage_columns(table, cols)
    parts = [literal(f"n.{quoted(c)}") for c in guard if c != "rn"]
    parts += [value_sql(table, c) for c in names]
    return "'(' || " + " || ', ' || ".join(parts) + " || ')'"


def key_is(left, right, key):
    return " and ".join(f"{left}.{quoted(k)} is {right}.{quoted(k)}" for k in key)


def sync_apply(cols, lo, hi):
    """The statements that write staged sync_data rows lo..hi."""
    st = stage(SYNC_DATA)
    has_seq = "seq" in cols
    rows = f"st.ord between {lo} and {hi}"
    base = f"(select current_value from {SEQUENCE} where id = 1)"
    plain = [c for c in cols if c != "seq"]
    statements = [
        f"update {st} set rn = null where ord between {lo} and {hi}",
        f"""with applies as (
            select st.ord, row_number() over (order by st.ord) as rn
            from {st} as st left join {SYNC_DATA} as s on {key_is("s", "st", SYNC_KEY)}
            where {rows} and (case when st.is_insert then s.id is null
                and not exists (select 1 from {SYNC_DATA} as i where i.id is st.id)
                and exists (select 1 from users as u where u.id is st.user_id)
            else s.checksum is st.p_checksum and s.deleted_at is st.p_deleted_at
                and s.version is st.p_version end)
        )
        update {st} set rn = applies.rn from applies where {st}.ord = applies.ord""",
        f"""insert into {SYNC_DATA} ({", ".join(quoted(c) for c in cols)})
        select {", ".join((f"{base} + st.rn" if c == "seq" else f"st.{quoted(c)}") for c in cols)}
        from {st} as st where {rows} and st.is_insert and st.rn is not null order by st.ord""",
    ]
    assignments = [f"{quoted(c)} = st.{quoted(c)}" for c in UPDATED if c in plain]
    if has_seq:
        assignments.append(f"seq = {base} + st.rn")
    statements.append(
        f"""update {SYNC_DATA} set {", ".join(assignments)}
        from {st} as st where {rows} and not st.is_insert and st.rn is not null
            and {key_is(SYNC_DATA, "st", SYNC_KEY)}"""
    )
    if has_seq:
        statements.append(
            f"update {SEQUENCE} set current_value = current_value"
            f" + (select count(rn) from {st} as st where {rows}) where id = 1"
        )
    return statements


def own_guard(guarded):
    """'D1's sync_data row of this key is as the run left it locally'."""
    if not guarded:
        return "1"
    return (
        f"(case when st.s_present then exists (select 1 from {SYNC_DATA} as s"
        f" where {key_is('s', 'st', SYNC_KEY)} and s.checksum is st.s_checksum"
        f" and s.deleted_at is st.s_deleted_at)"
        f" else not exists (select 1 from {SYNC_DATA} as s where {key_is('s', 'st', SYNC_KEY)})"
        " end)"
    )


def own_apply(table, cols, key, guarded, lo, hi):
    """Deletes, updates, then inserts of staged rows lo..hi of one of the
    migration's tables."""
    st = stage(table)
    rows = f"st.ord between {lo} and {hi}"
    guard = own_guard(guarded)
    non_key = [c for c in cols if c not in key]
    # driven by the part's stage rows through the table's key, never a scan
    # of the whole table per part
    statements = [
        f"""delete from {table} where rowid in (select t.rowid from {st} as st
            join {table} as t on {key_is("t", "st", key)}
            where {rows} and st.is_delete and {guard})"""
    ]
    if non_key:
        statements.append(
            f"""update {table} set {", ".join(f"{quoted(c)} = st.{quoted(c)}" for c in non_key)}
            from {st} as st where {rows} and not st.is_delete
                and {key_is(table, "st", key)} and {guard}"""
        )
    statements.append(
        f"""insert into {table} ({", ".join(map(quoted, cols))})
        select {", ".join(f"st.{quoted(c)}" for c in cols)} from {st} as st
        where {rows} and not st.is_delete and {guard}
            and not exists (select 1 from {table} as t where {key_is("t", "st", key)})"""
    )
    return statements


# The outcome of every staged sync_data row, as D1 holds it now: applied (what
# the run wrote), user gone (the API deleted the user after the pull), not
# applied (still what the pull saw, which a finished push never leaves) or
# skipped (something else: the API wrote the row after the pull).
OUTCOME = """(case
    when s.checksum is st.checksum and s.deleted_at is st.deleted_at
        and s.version is st.version then 'applied'
    when not exists (select 1 from users as u where u.id is st.user_id) then 'user_gone'
    when (st.is_insert and s.id is null) or (not st.is_insert and s.checksum is st.p_checksum
        and s.deleted_at is st.p_deleted_at and s.version is st.p_version) then 'not_applied'
    else 'skipped' end)"""
KIND = """(case when st.is_insert then 'insert'
    when st.deleted_at is not null and st.p_deleted_at is null then 'tombstone'
    when st.deleted_at is null and st.p_deleted_at is not null then 'revive'
    else 'update' end)"""
READ_BACK_KEYS = 5000


def read_back_queries():
    """Two queries in one request: the outcomes counted by entity type,
    kind and conflict; the keys of the rows not applied, those still as the
    pull saw them first (at most READ_BACK_KEYS)."""
    st = stage(SYNC_DATA)
    source = f"{st} as st left join {SYNC_DATA} as s on {key_is('s', 'st', SYNC_KEY)}"
    return [
        f"select st.entity_type as entity_type, {KIND} as kind, {OUTCOME} as outcome,"
        f" st.is_conflict as is_conflict, count(*) as n from {source} group by 1, 2, 3, 4",
        f"select st.user_id as user_id, st.entity_type as entity_type,"
        f" st.entity_id as entity_id, {OUTCOME} as outcome from {source}"
        f" where {OUTCOME} <> 'applied'"
        f" order by ({OUTCOME} = 'not_applied') desc, st.ord limit {READ_BACK_KEYS}",
    ]
