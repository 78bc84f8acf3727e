"""make d1-push: apply the patch to D1, then read every patched row back.

1. The schema the patch needs, each statement only where D1 lacks it: the
   migration's own tables and the columns an upgrade added (from the local
   file's DDL), sync_sequence where sync_data has seq and D1 has no sequence
   yet (set to D1's largest seq at push time), migration_push_pieces, and
   the patch's stage tables afresh. Remotely a Time Travel bookmark first.
2. Each part of the patch, in order, with one `wrangler d1 execute --file`:
   a part runs as one batch, all or nothing (remotely D1 refuses other queries
   while it runs, so the seq numbers taken inside it cannot collide).
3. The outcome of every staged sync_data row, counted by D1 in one request
   (guard.py): applied (D1 holds what the run wrote), skipped (D1 holds
   something else: the API wrote the row after the pull; the next run settles
   it), or not applied (D1 still holds what the pull saw, which a finished
   push never leaves: exit 1).
4. The run history, last and once: the runs made on the copy since the pull
   (migrations and rollbacks), counting only the writes that reached D1, so
   migration_runs in D1 says what happened to it. A run none of whose writes
   reached D1 gets no row, nor does a failed run.
"""

import json
import re
import shutil
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from guard import PIECES_DDL, PIECES_TABLE, read_back_queries, stage
from identity import check_same
from patch import FORMAT, HISTORY, copy_state
from pull import patch_dir, snapshot_path
from tables import OWN_TABLES, SEQUENCE, connect, quoted
from wrangler import STATEMENT_LIMIT, D1Error, Refused

# migration_runs' count of each kind of sync_data write the patch makes
# (a rollback's deletes never reach D1: the patch deletes no sync_data row)
WRITE_COUNTS = {
    "insert": "inserted_count",
    "update": "updated_count",
    "tombstone": "tombstoned_count",
    "revive": "revived_count",
    "delete": "deleted_count",
}
HISTORY_MARK = "history-pushed.json"
STARTED = "push-started"
BOOKMARK = "bookmark.json"


def schema_statements(wrangler, conn, manifest):
    names = ", ".join(f"'{t}'" for t in (*OWN_TABLES, SEQUENCE, PIECES_TABLE))
    # the tables and their columns in one request (a request is a wrangler
    # start-up, and remotely a round trip); only these tables are looked into,
    # as D1 refuses pragma_table_info() on its own (_cf_KV)
    remote_columns = {}
    for row in wrangler.query(
        "select m.name as t, p.name as c from sqlite_master as m"
        " join pragma_table_info(m.name) as p"
        f" where m.type = 'table' and m.name in ({names})"
    )[0]:
        remote_columns.setdefault(row["t"], set()).add(row["c"])
    statements = []
    local = conn.execute(
        "select name, type, sql from sqlite_master where sql is not null and tbl_name in"
        f" ({', '.join(repr(t) for t in OWN_TABLES)}) order by type desc"
    ).fetchall()
    for name, kind, sql in local:
        if kind == "table" and name in remote_columns:
            continue
        sql = re.sub(
            r"^\s*create\s+(unique\s+)?(table|index)\s+(if\s+not\s+exists\s+)?",
            lambda m: f"create {m.group(1) or ''}{m.group(2).lower()} if not exists ",
            sql,
            flags=re.IGNORECASE,
        )
        statements.append(sql)
    for table in OWN_TABLES:
        if table not in remote_columns:
            continue
        for _, col, decl, _notnull, default, _pk in conn.execute(
            f"pragma table_info({quoted(table)})"
        ):
            if col not in remote_columns[table]:
                extra = f" default {default}" if default is not None else ""
                statements.append(f"alter table {table} add column {quoted(col)} {decl}{extra}")
    if manifest["seq"]:
        statements.append(
            f"create table if not exists {SEQUENCE} (id integer primary key check (id = 1),"
            " current_value integer not null default 0)"
        )
        statements.append(
            f"insert into {SEQUENCE} (id, current_value)"
            " select 1, (select coalesce(max(seq), 0) from sync_data)"
            f" where not exists (select 1 from {SEQUENCE} where id = 1)"
        )
    statements.append(PIECES_DDL)
    # every push starts from empty stages of this patch's shape (a cut-off
    # push may have left rows, another patch another shape); its parts fill them
    for table, ddl in manifest["stages"].items():
        statements += [f"drop table if exists {stage(table)}", ddl]
    return statements


def read_back(wrangler, expected):
    """D1's outcome of every staged sync_data row (guard.py), counted by D1
    in one request: applied, skipped (written after the pull, or its user
    deleted), or not applied; and the writes that applied, by entity type and
    kind."""
    counted, keys = wrangler.query(read_back_queries())
    outcome = {"applied": 0, "skipped": 0, "not_applied": 0}
    applied_writes = Counter()
    for row in counted:
        kind = "skipped" if row["outcome"] == "user_gone" else row["outcome"]
        outcome[kind] += row["n"]
        if row["outcome"] == "applied":
            applied_writes[(row["entity_type"], row["kind"])] += row["n"]
            if row["is_conflict"]:
                applied_writes[(row["entity_type"], "conflict")] += row["n"]
    skipped, not_applied = [], []
    # a row no part staged (a part that did not run whole) was not applied
    missing = expected - sum(outcome.values())
    if missing > 0:
        outcome["not_applied"] += missing
        not_applied.append(f"{missing} row(s) of the patch that no part staged")
    for row in keys:
        readable = f"{row['user_id']}/{row['entity_type']}/{row['entity_id']}"
        if row["outcome"] == "not_applied":
            not_applied.append(readable)
        elif row["outcome"] == "user_gone":
            skipped.append(f"{readable} (its user was deleted after the pull)")
        else:
            skipped.append(readable)
    return outcome, skipped, not_applied, applied_writes


def corrected_history(rows, applied_writes, target_name=None):
    """The history rows to write to D1, and the runs left out with why.

    What reached D1 is the patch's writes that applied: per entity type and
    kind (insert, update, tombstone, revive, conflict) they are shared out
    among the runs made on the copy since the pull (migrations and rollbacks,
    whose tombstones are writes like any other), the newest first, each
    taking at most what it counted. So a run whose writes a later run undid
    or redid on the copy, or whose writes the push skipped, is left with what
    reached D1, and with nothing gets no row; nor does a failed run. A run's
    target_name becomes the D1 database it reached."""
    remaining = Counter(applied_writes)
    kept, left_out = [], []
    for row in sorted(rows, key=lambda r: (r.get("started_at") or "", r["id"]), reverse=True):
        row = dict(row)
        if not row.pop("is_new"):
            kept.append(row)  # an older row an upgrade reshaped: as it is
            continue
        if row.get("status") not in ("success", "rolled_back"):
            left_out.append((row["id"], f"{row.get('status')} on the local copy"))
            continue
        wrote = sum(row.get(c) or 0 for c in WRITE_COUNTS.values())
        for kind, column in [*WRITE_COUNTS.items(), ("conflict", "conflict_count")]:
            row[column] = min(row.get(column) or 0, remaining[(row["entity_type"], kind)])
            remaining[(row["entity_type"], kind)] -= row[column]
        if wrote and not sum(row[c] for c in WRITE_COUNTS.values()):
            left_out.append((row["id"], f"none of its {wrote} write(s) reached D1"))
            continue
        if target_name:
            row["target_name"] = target_name
        kept.append(row)
    return kept, left_out


def part_of_this_push(path, push_id):
    """The part, marked with this push's id. D1 knows an import by its file's
    MD5 and may answer one it ran before as done without running it: within
    one push that makes a retried import safe, but a later push must run its
    parts again, since they refill the stages (emptied at its start) that the
    read-back reads."""
    marked = path.with_name(f".{path.name}.push")
    try:
        with open(path, "rb") as source, open(marked, "wb") as target:
            target.write(f"-- push {push_id}\n".encode())
            shutil.copyfileobj(source, target)
    except OSError as error:
        marked.unlink(missing_ok=True)
        raise D1Error(
            f"cannot write {marked} ({error.strerror}): free space there and push again"
            " (a repeated push is safe)."
        ) from error
    return marked


def take_bookmark(wrangler, folder):
    """Remotely, D1's Time Travel bookmark from before the patch's first
    write, kept in the patch folder so that a repeated push names the same
    moment; locally None (local D1 has no Time Travel)."""
    if not wrangler.remote:
        return None
    path = folder / BOOKMARK
    if path.exists():
        return read_json(path, "the bookmark taken before the first push")["bookmark"]
    bookmark = wrangler.bookmark()
    write_file(path, json.dumps({"bookmark": bookmark}) + "\n")
    return bookmark


def ensure_schema(wrangler, conn, manifest, schema):
    """The schema statements, in one request. When the request fails after D1
    ran it (a 5xx on the answer), a retry would add a column twice: so after a
    failure the statements D1 still lacks are computed again and sent once
    more; a second failure stops the push."""
    if not schema:
        return
    try:
        wrangler.query(schema)
    except D1Error:
        wrangler.query(schema_statements(wrangler, conn, manifest))


def sql_value(value):
    """A literal D1 reads back as the same value; text always as hex, so a
    filter a person typed never reaches the SQL as SQL."""
    if value is None:
        return "null"
    if isinstance(value, bool | int):
        return str(int(value))
    if isinstance(value, float):
        return f"{value!r}"
    return f"cast(x'{str(value).encode().hex()}' as text)"


def push_history(wrangler, folder, target):
    """migration_runs in D1: once per patch, after every part applied."""
    mark = folder / HISTORY_MARK
    if mark.exists():
        return "the run history of this patch was recorded in D1 by an earlier push"
    rows = read_json(folder / "history.json", "the patch's run history")
    report = read_json(folder / "push-report.json", "the push's report")
    applied = Counter(
        {tuple(k.split("\t")): n for k, n in report.get("applied_writes", {}).items()}
    )
    kept, left_out = corrected_history(rows, applied, target.history_name())
    bookmark = report.get("bookmark_before_push")
    new_runs = {r["id"] for r in rows if r.get("is_new")}
    for row in kept:
        if bookmark and row["id"] in new_runs:
            row["d1_bookmark"] = bookmark
    statements = [
        f"insert or replace into {HISTORY} ({', '.join(quoted(c) for c in row)})"
        f" values ({', '.join(sql_value(v) for v in row.values())})"
        for row in kept
    ]
    if statements:
        wrangler.query(statements)
    write_file(
        mark,
        json.dumps({"recorded": [r["id"] for r in kept], "left_out": left_out}, indent=1) + "\n",
    )
    runs = len({r.get("run_id") for r in kept if r.get("run_id")})
    text = (
        f"the run history: {len(kept)} row(s) of {runs} run(s) recorded in D1, counting the"
        " writes that reached it"
    )
    if left_out:
        text += "; not recorded, as nothing of them reached D1: " + ", ".join(
            f"{run_id} ({why})" for run_id, why in left_out[:6]
        )
    return text


def write_file(path, text):
    """A file of the patch folder, or a D1Error naming it."""
    try:
        path.write_text(text)
    except OSError as error:
        path.unlink(missing_ok=True)
        raise D1Error(
            f"cannot write {path} ({error.strerror}): free space there, then push again (a"
            " repeated push is safe) to finish and record the outcome and the run history."
        ) from error


def read_json(path, what):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise Refused(
            f"{what} {path} cannot be read ({error}): run make d1-migrate again. Nothing was"
            " pushed."
        ) from error


def check_writable(folder):
    """The push writes its report into the patch folder: known before D1 is touched."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".writable-"):
            pass
    except OSError as error:
        raise Refused(
            f"the patch folder {folder} cannot be written ({error.strerror}): the push records"
            " its outcome there. Make it writable; nothing was pushed."
        ) from error


def push(wrangler, path, target):
    path = Path(path)
    folder = patch_dir(path)
    if not (folder / "manifest.json").exists():
        raise Refused(f"no patch in {folder}: run make d1-migrate first. Nothing was pushed.")
    manifest = read_json(folder / "manifest.json", "the patch's manifest")
    pulled = manifest["pulled"]
    if manifest.get("format") != FORMAT:
        raise Refused(
            f"the patch in {folder} was written by an older version of this tool: run"
            " make d1-migrate again. Nothing was pushed."
        )
    check_same(pulled.get("target") or {}, target, "push", f"the patch in {folder}")
    check_writable(folder)
    started = time.monotonic()
    conn = connect(path)
    conn.execute(f"attach '{snapshot_path(path)}' as pulled")
    schema = schema_statements(wrangler, conn, manifest)
    for statement in schema:
        if len(statement.encode()) > STATEMENT_LIMIT:
            raise D1Error(f"a schema statement is over D1's limit: {statement[:200]}")
    bookmark = take_bookmark(wrangler, folder)
    ensure_schema(wrangler, conn, manifest, schema)
    write_file(folder / STARTED, "")  # a pull must not discard a half-pushed patch
    push_id = uuid.uuid4().hex
    for number, part in enumerate(manifest["parts"], start=1):
        part_started = time.monotonic()
        marked = part_of_this_push(folder / part, push_id)
        try:
            wrangler.apply_file(marked)
        except D1Error as error:
            raise D1Error(
                f"part {number}/{len(manifest['parts'])} of the patch did not apply ({error})."
                " A part applies whole or not at all; push again (a repeated push is safe)."
            ) from error
        finally:
            marked.unlink(missing_ok=True)
        print(
            f"d1-push: part {number}/{len(manifest['parts'])} applied"
            f" ({time.monotonic() - part_started:.1f} s)",
            flush=True,
        )
    try:
        outcome, skipped, not_applied, applied_writes = read_back(
            wrangler, manifest["counts"]["inserts"] + manifest["counts"]["updates"]
        )
    except D1Error as error:
        raise D1Error(
            f"every part was sent, but reading the rows back failed ({error}); the run history"
            " waits for that. Push again: a repeated push is safe and finishes both."
        ) from error
    moved_on = copy_state(conn) != manifest.get("copy_state")
    conn.close()
    # the stages held copies of the documents: emptied once read back
    wrangler.query(
        [f"delete from {stage(table)}" for table in manifest["stages"]]
        + [f"delete from {PIECES_TABLE}"]
    )
    report = {
        **outcome,
        **({"bookmark_before_push": bookmark} if bookmark else {}),
        "skipped_keys": skipped,
        "not_applied_keys": not_applied,
        "applied_writes": {"\t".join(k): n for k, n in applied_writes.items()},
    }
    write_file(folder / "push-report.json", json.dumps(report, indent=2) + "\n")
    print(
        f"d1-push: {wrangler.describe()} in {time.monotonic() - started:.1f} s:"
        f" sync_data {outcome['applied']} applied, {outcome['skipped']} skipped,"
        f" {outcome['not_applied']} not applied"
        + (
            " (skipped: written by the API after the pull; the next run settles them)."
            if outcome["skipped"]
            else "."
        )
    )
    for key in skipped[:20]:
        print(f"  skipped, changed in D1 since the pull: {key}")
    if len(skipped) > 20:
        print(f"  ... {len(skipped) - 20} more in {folder / 'push-report.json'}")
    if moved_on:
        print(
            "d1-push: the copy has changed since this patch was written (another run on it):"
            " what that run changed is not in this patch. Run make d1-migrate, then"
            " make d1-push, to send it."
        )
    if bookmark:
        print(
            f"d1-push: D1 was at Time Travel bookmark {bookmark} before this patch; to return"
            " the WHOLE database to that moment (the API's writes since included), run:"
            f" {wrangler.restore_command(bookmark)}"
        )
    if outcome["not_applied"]:
        raise D1Error(
            f"{outcome['not_applied']} row(s) still hold what the pull saw ({', '.join(not_applied[:5])}):"
            " the push did not finish, and the run history was not written. Push again; a"
            " repeated push is safe."
        )
    print(f"d1-push: {push_history(wrangler, folder, target)}.")
    return report
