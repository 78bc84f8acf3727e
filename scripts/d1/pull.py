"""make d1-pull: D1's tables into a local SQLite file, checked value for value.

`wrangler d1 export` is fast but not faithful (D1_NOTES.md): text holding a
newline and a backslash comes back altered, integers beyond 2^53 are rounded,
and a REAL with an integral value comes back as an integer, which only a REAL
column's affinity turns back. So the pull
1. exports the tables and loads the file with sqlite3;
2. asks D1 for exactly the values of those kinds, as exact literals, and
   writes them over the loaded ones;
3. compares a fingerprint of every column (count per storage class, total
   bytes, newlines, integers modulo a prime) computed by D1 and by the file;
   any difference stops the pull, and the previous file is left in place;
4. keeps beside the file what the pull saw of the rows the push may change
   (<file>.pulled.db): sync_data's state per key and the migration's tables.
"""

import json
import os
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from tables import (
    BACKEND,
    ENTITY_TYPES,
    KEYS,
    OWN_TABLES,
    PULLED,
    SYNC_DATA,
    connect,
    literal,
    quoted,
)
from wrangler import D1Error, Refused

BIG = 9007199254740991  # 2^53 - 1: beyond it JSON and the export round integers
SLICE = 400_000  # bytes of a value per read: 800 KB of hex, far under D1's 2 MB
SLICED = "sliced:"  # never the start of a literal


def real_affinity(declared):
    """SQLite's rule: INT first, then CHAR/CLOB/TEXT, BLOB, then REAL/FLOA/DOUB."""
    declared = declared.upper()
    if "INT" in declared or any(t in declared for t in ("CHAR", "CLOB", "TEXT")):
        return False
    return any(t in declared for t in ("REAL", "FLOA", "DOUB"))


def suspect_values_sql(table, typed_columns):
    """D1 query, one scan of the table: the key of every row holding a value
    the export may alter, and each such value as a literal (v<i>, NULL for the
    columns whose value is safe). A REAL column turns an integral value back
    into a real on load; other columns do not."""
    key = ", ".join(f"{literal(quoted(k))} as k{i}" for i, k in enumerate(KEYS[table]))
    conditions, values = [], []
    for i, (col, declared) in enumerate(typed_columns):
        c = quoted(col)
        condition = (
            f"(typeof({c}) = 'text' and instr({c}, '\\') > 0"
            f" and (instr({c}, char(10)) > 0 or instr({c}, char(13)) > 0))"
            f" or (typeof({c}) = 'text' and instr({c}, char(0)) > 0)"
            f" or (typeof({c}) = 'integer' and ({c} > {BIG} or {c} < -{BIG}))"
        )
        if not real_affinity(declared):
            condition += f" or (typeof({c}) = 'real' and {c} = cast({c} as integer))"
        conditions.append(f"({condition})")
        # D1 refuses any value past 2 MB, hex() of a long text too: such a
        # value is named here and read in slices
        long_text = f"typeof({c}) = 'text' and length(cast({c} as blob)) > {SLICE}"
        values.append(
            f"(case when {condition} then (case when {long_text}"
            f" then '{SLICED}' || length(cast({c} as blob)) else {literal(c)} end) end) as v{i}"
        )
    return f"select {key}, {', '.join(values)} from {quoted(table)} where {' or '.join(conditions)}"


def fingerprint_sql(table, cols):
    """The same query for D1 and the file: one text of totals per column (count
    per storage class, bytes, newlines, integers modulo a prime)."""
    parts = ["count(*) as row_count"]
    for col in cols:
        c = quoted(col)
        totals = [
            f"sum(typeof({c}) = 'integer')",
            f"sum(typeof({c}) = 'real')",
            f"sum(typeof({c}) = 'text')",
            f"sum(typeof({c}) = 'blob')",
            f"sum(length(cast({c} as blob)))",
            f"sum(case when typeof({c}) = 'text' then"
            f" length({c}) - length(replace({c}, char(10), '')) end)",
            f"sum(case when typeof({c}) = 'integer' then {c} % 1000003 end)",
        ]
        parts.append(" || '/' || ".join(f"coalesce({t}, 0)" for t in totals) + f" as {c}")
    return f"select {', '.join(parts)} from {quoted(table)}"


def d1_tables(wrangler):
    """The tables to pull, each with its columns and declared types, from D1."""
    rows = wrangler.query(
        "select m.name as t, p.name as c, p.type as declared from sqlite_master as m"
        " join pragma_table_info(m.name) as p where m.type = 'table'"
        # D1's own tables (_cf_KV) may not be looked into
        f" and m.name in ({', '.join(repr(t) for t in PULLED)}) order by m.name, p.cid"
    )[0]
    typed = {}
    for row in rows:
        typed.setdefault(row["t"], []).append((row["c"], row["declared"]))
    missing = [t for t in (*BACKEND, SYNC_DATA) if t not in typed]
    if missing:
        raise D1Error(
            f"{wrangler.describe()} has no {', '.join(missing)}: it is not the app's database "
            "(the backend tables and sync_data must exist). Nothing was pulled."
        )
    return {t: typed[t] for t in PULLED if t in typed}


def load(export_file, path):
    """The export into a fresh file, streamed through sqlite3. The export
    writes a NUL inside text raw, which ends the statement for sqlite3: every
    NUL byte is left out here (SQL text holds none outside a literal), and the
    repair reads those values again from D1, exactly."""
    proc = subprocess.Popen(
        ["sqlite3", "-bail", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # one transaction, no journal: a fresh file that is thrown away on failure
        proc.stdin.write(b"pragma journal_mode = off;\npragma synchronous = off;\nbegin;\n")
        with open(export_file, "rb") as export:
            while chunk := export.read(1 << 22):
                proc.stdin.write(chunk.replace(b"\0", b""))
        proc.stdin.write(b"\ncommit;\n")
        proc.stdin.close()
    except BrokenPipeError:
        pass  # sqlite3 stopped at an error: its message follows
    stderr = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0:
        raise D1Error(load_failure(stderr.strip(), path))


def load_failure(message, path):
    """What stopped the export from loading, by what SQLite said."""
    if "disk is full" in message or "No space left" in message:
        return f"the disk is full: cannot write {path}. Free space there and pull again."
    if "Infinity" in message:
        return (
            "the export of D1 does not load: it holds a REAL ±Infinity, which wrangler writes"
            f" as a bare token ({message[:200]}). Nothing was pulled."
        )
    return f"the export of D1 does not load into SQLite ({message[:300]}). Nothing was pulled."


def repair(wrangler, conn, pulled):
    """Overwrite the values the export may have altered with D1's own."""
    statements = [suspect_values_sql(table, typed) for table, typed in pulled.items()]
    repaired, sliced = 0, []
    for (table, typed), rows in zip(pulled.items(), wrangler.query(statements), strict=True):
        key_sql = " and ".join(f"{quoted(k)} is %s" for k in KEYS[table])
        for row in rows:
            where = key_sql % tuple(row[f"k{i}"] for i in range(len(KEYS[table])))
            for i, (col, _) in enumerate(typed):
                value = row[f"v{i}"]
                if value is None:
                    continue
                if value.startswith(SLICED):
                    sliced.append((table, col, where, int(value[len(SLICED) :])))
                    continue
                conn.execute(f"update {quoted(table)} set {quoted(col)} = {value} where {where}")
                repaired += 1
    for table, col, where, size in sliced:
        reads = [
            f"select hex(substr(cast({quoted(col)} as blob), {start}, {SLICE})) as h"
            f" from {quoted(table)} where {where}"
            for start in range(1, size + 1, SLICE)
        ]
        text = "".join(rows[0]["h"] for rows in wrangler.query(reads))
        conn.execute(
            f"update {quoted(table)} set {quoted(col)} = cast(x'{text}' as text) where {where}"
        )
        repaired += 1
    return repaired


def fingerprints(wrangler, pulled):
    """D1's fingerprint of every pulled table: asked right after the export,
    so that the API has had the least time to write in between."""
    queries = [fingerprint_sql(t, [c for c, _ in typed]) for t, typed in pulled.items()]
    return dict(zip(pulled, (rows[0] for rows in wrangler.query(queries)), strict=True))


def differences(conn, pulled, theirs):
    """The tables whose fingerprint in the file differs from D1's."""
    found = []
    for table, typed in pulled.items():
        cursor = conn.execute(fingerprint_sql(table, [c for c, _ in typed]))
        local = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
        differs = [name for name, value in local.items() if theirs[table].get(name) != value]
        if differs:
            found.append(
                f"{table} ({', '.join(differs[:3])}: file {[local[n] for n in differs[:3]]},"
                f" D1 {[theirs[table].get(n) for n in differs[:3]]})"
            )
    return found


def write_snapshot(conn, snapshot, info):
    """What the pull saw of every row the push may change."""
    snapshot.unlink(missing_ok=True)
    conn.execute(f"attach '{snapshot}' as pulled")
    types = ", ".join(f"'{t}'" for t in ENTITY_TYPES)
    conn.execute("begin")
    conn.execute(
        "create table pulled.sync_data_state (user_id, entity_type, entity_id, id, checksum,"
        " deleted_at, version, primary key (user_id, entity_type, entity_id)) without rowid"
    )
    conn.execute(
        "insert into pulled.sync_data_state select user_id, entity_type, entity_id, id,"
        f" checksum, deleted_at, version from main.sync_data where entity_type in ({types})"
    )
    for table in OWN_TABLES:
        if table in info["tables"]:
            conn.execute(f"create table pulled.{table} as select * from main.{quoted(table)}")
    conn.execute("create table pulled.pull_info (info text)")
    conn.execute("insert into pulled.pull_info values (?)", (json.dumps(info),))
    conn.execute("commit")
    conn.execute("detach pulled")


def pull_once(wrangler, pulled, export_file, fresh):
    """One attempt: the differing tables, or [] when the file is D1's."""
    fresh.unlink(missing_ok=True)
    wrangler.export(list(pulled), export_file)
    theirs = fingerprints(wrangler, pulled)
    load(export_file, fresh)
    conn = connect(fresh)
    conn.execute("begin")
    repaired = repair(wrangler, conn, pulled)
    conn.execute("commit")
    return conn, repaired, differences(conn, pulled, theirs)


def check_no_half_push(path):
    """A patch a push began and did not finish holds writes D1 already has:
    a new pull would discard them and their run history."""
    folder = patch_dir(path)
    if (folder / "push-started").exists() and not (folder / "history-pushed.json").exists():
        raise Refused(
            f"the patch in {folder} was partly pushed and never finished: finish it with"
            " make d1-push (a repeated push is safe), or delete that folder to discard it."
            " Nothing was pulled."
        )


def pull(wrangler, path, record, attempts=3):
    path = Path(path)
    check_no_half_push(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    pulled = d1_tables(wrangler)
    export_file = path.with_name(path.name + ".export.sql")
    fresh = path.with_name(path.name + ".pulling")
    try:
        # A write of the API between the export and the fingerprint looks like
        # an altered value: such a pull is thrown away and taken again.
        previous = None
        for attempt in range(1, attempts + 1):
            conn, repaired, differs = pull_once(wrangler, pulled, export_file, fresh)
            if not differs:
                break
            bad_text = not_utf8(wrangler, conn, pulled)
            if bad_text:
                raise D1Error(bad_text)
            if differs == previous:
                # D1 did not move between two pulls: the export alters these
                # values every time, and pulling again cannot help
                raise D1Error(
                    "the export alters the same values on every pull, and D1 did not change"
                    f" in between: {'; '.join(differs)}. Nothing was pulled."
                )
            previous = differs
            conn.close()
            if attempt == attempts:
                raise D1Error(
                    f"after {attempts} pulls, the file still differs from D1: "
                    + "; ".join(differs)
                    + ". Either the export alters values this pull cannot repair, or D1 was"
                    " written the whole time (run when the API is quieter). Nothing was pulled."
                )
            print(f"d1-pull: D1 changed during the pull ({'; '.join(differs)}); pulling again")
        info = {
            "target": record,
            "database": wrangler.database,
            "remote": wrangler.remote,
            "pulled_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "tables": list(pulled),
        }
        try:
            write_snapshot(conn, snapshot_path(fresh), info)
        except sqlite3.Error as error:
            raise D1Error(
                f"cannot write {snapshot_path(fresh)}: "
                + ("the disk is full" if "full" in str(error) else str(error))
                + ". Nothing was pulled; the previous copy is as it was."
            ) from error
        counts = {
            t: conn.execute(f"select count(*) from {quoted(t)}").fetchone()[0] for t in pulled
        }
        conn.close()
    except BaseException:
        fresh.unlink(missing_ok=True)
        snapshot_path(fresh).unlink(missing_ok=True)
        raise
    finally:
        export_file.unlink(missing_ok=True)
    os.replace(snapshot_path(fresh), snapshot_path(path))
    os.replace(fresh, path)
    if patch_dir(path).exists():
        clear_patch(path)
    rows = ", ".join(f"{t} {n}" for t, n in counts.items())
    print(
        f"d1-pull: {wrangler.describe()} → {path} in {time.monotonic() - started:.1f} s: {rows};"
        f" {repaired} value(s) the export altered, read again from D1; every column's"
        " fingerprint matches D1's."
    )


def not_utf8(wrangler, conn, pulled):
    """The message naming D1's text that is not valid UTF-8, or None. The
    export carries text as a JavaScript string, which turns each bad byte into
    U+FFFD: a value holding U+FFFD in the file but not in D1 is one of them."""
    bad = []
    for table, typed in pulled.items():
        key = ", ".join(quoted(k) for k in KEYS[table])
        for col, _ in typed:
            c = quoted(col)
            where = f"typeof({c}) = 'text' and instr({c}, char(65533)) > 0"
            mine = conn.execute(f"select {key} from {quoted(table)} where {where}").fetchall()
            if not mine:
                continue
            keys = [f"k{i}" for i in range(len(KEYS[table]))]
            theirs = wrangler.query(
                f"select {', '.join(f'{quoted(k)} as {n}' for k, n in zip(KEYS[table], keys, strict=True))}"
                f" from {quoted(table)} where {where}"
            )[0]
            theirs = {tuple(row[n] for n in keys) for row in theirs}
            altered = [k for k in mine if tuple(k) not in theirs]
            if altered:
                ids = ", ".join("/".join(map(str, k)) for k in altered[:5])
                more = f" and {len(altered) - 5} more" if len(altered) > 5 else ""
                bad.append(f"{table}.{col} of {len(altered)} row(s) ({ids}{more})")
    if bad:
        return (
            "D1 holds text that is not valid UTF-8 in " + "; ".join(bad) + ", which wrangler's"
            " export cannot carry (it writes U+FFFD instead). Correct those values in D1,"
            " then pull again. Nothing was pulled."
        )
    return None


def snapshot_path(path):
    return Path(path).with_name(Path(path).name + ".pulled.db")


def patch_dir(path):
    return Path(path).with_name(Path(path).name + ".patch")


def clear_patch(path):
    """A new pull makes an older patch meaningless: its guards name older rows."""
    for part in patch_dir(path).glob("*"):
        part.unlink()
    patch_dir(path).rmdir()
