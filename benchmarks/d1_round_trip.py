"""Time the D1 round trip (make d1-pull, d1-migrate, d1-push) on wrangler's
local D1 holding the benchmark's backend, then again after 1% of the rows
changed in D1. Writes its section of docs/benchmarks.md (--out), from its
heading to the end of the page; benchmarks/run_benchmark.py keeps it.

    .venv/bin/python benchmarks/d1_round_trip.py [--logbook 100000 --goals 10000
        --sessions 10000 --users 1000] [--initial-push-rows N] [--check-seeded]
        [--fill sqlite|wrangler] [--folder /tmp/d1-bench] [--out docs/benchmarks.md]

At 200,000 backend rows, the initial push left out (as docs/benchmarks.md
was measured):

    .venv/bin/python benchmarks/d1_round_trip.py --logbook 170000 --goals 15000
        --sessions 15000 --users 1700 --initial-push-rows 100000

Local D1 cannot be pulled much beyond 200,000 backend rows: `wrangler d1
export --local` (the pull's first step) hands the whole export over as one
JavaScript string, which V8 caps at 2^29 - 24 characters ("RangeError:
Invalid string length"), and at 300,000 rows workerd aborted (signal 6)
before that. The benchmark's export takes about 330 characters per backend
row before the first push and about 1,280 after it (sync_data, the ledger),
measured at 12,000 rows. At 1,200,000 rows the initial pull fits, the pull
after the initial push does not.

Timed, each as the whole `make` command (wrangler's start-ups included): the
initial d1-pull, d1-migrate and d1-push, then the 1% change and the same three
again. Not timed: building the seed, filling local D1, the 1% change itself
(three UPDATEs through `wrangler d1 execute`), and the writes below.

Filling (--fill sqlite, the default): wrangler creates the database (one
`wrangler d1 execute --local`), then, with wrangler stopped, the seed's tables,
rows, indexes and triggers are copied with sqlite3 into the SQLite file in
which wrangler's local D1 keeps the database, in one transaction, and checked
for D1's foreign keys. --fill wrangler sends the seed through `wrangler d1
execute` in files of about 20 MB instead, as earlier runs did.

--initial-push-rows N: with more than N backend rows, the initial d1-push (about
7 ms per row on local D1) is not run. What it would have left in D1 is written
into D1's SQLite file instead, wrangler stopped: the push's own schema
statements (the migration's tables, sync_sequence, migration_push_pieces), the
patch's sync_data rows as the push writes them (seq numbered from sync_sequence
in key order, sync_sequence moved to the last), and the migration's tables as
the migrated file holds them. The page says that the push was not run.
--check-seeded then runs d1-pull and d1-migrate once more before the change,
and stops unless the patch holds no sync_data, ledger or conflict row.
"""

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR / "tests_py"))
sys.path.insert(0, str(PROJECT_DIR / "tests_py" / "d1"))
sys.path.insert(0, str(PROJECT_DIR / "scripts" / "d1"))

from d1_local import LocalD1, copy_tables, drop_orphans  # noqa: E402
from patch import sync_data_changes  # noqa: E402
from production_shape import make_production_shaped_sqlite  # noqa: E402
from pull import patch_dir, snapshot_path  # noqa: E402
from push import schema_statements  # noqa: E402
from tables import BACKEND, OWN_TABLES, SEQUENCE, SYNC_DATA, columns, quoted, tables  # noqa: E402

D1_SECTION = "## The D1 round trip"
# A full initial push measured by this script (docs/benchmarks.md, commit 428f328):
# quoted on the page when the push is not run.
FULL_PUSH_MEASURED = "7.3 ms per row at 120,000 rows (2026-11-29)"
FULL_PUSH_MS_PER_ROW = 7.3
# the columns the push's update of a sync_data row writes (scripts/d1/patch.py)
PUSH_UPDATES = ("data", "checksum", "version", "updated_at", "deleted_at", "device_id", "seq")

CHANGED_TABLES = ("logbook_entries", "goals", "practice_sessions")
CHANGE_1_PERCENT = [
    "update logbook_entries set notes = coalesce(notes, '') || ' (edited)',"
    " updated_at = updated_at + 1 where rowid % 100 = 0",
    "update goals set title = title || ' (edited)', updated_at = updated_at + 1"
    " where rowid % 100 = 0",
    "update practice_sessions set notes_attempted = coalesce(notes_attempted, 0) + 1"
    " where rowid % 100 = 0",
]


def fill_with_wrangler(d1, seed, folder):
    """The seed file's tables into D1 through wrangler, in files of about 20 MB."""
    with sqlite3.connect(seed) as conn:
        lines = [
            line
            for line in conn.iterdump()
            if line not in ("BEGIN TRANSACTION;", "COMMIT;") and "sqlite_sequence" not in line
        ]
    # parents before children: each file is checked for foreign keys on its own
    parents = ["users", "practice_sessions", "goals", "logbook_entries"]

    def rank(line):
        if line.startswith("CREATE TABLE"):
            return (0, 0)
        if line.startswith("INSERT INTO"):
            table = line.split('"')[1]
            return (1, parents.index(table) if table in parents else len(parents))
        return (2, 0)

    lines.sort(key=rank)
    batch, size, number = ["PRAGMA defer_foreign_keys = true;"], 0, 0
    for line in [*lines, None]:
        if line is None or size > 20_000_000:
            number += 1
            path = folder / f"fill-{number}.sql"
            path.write_text("\n".join(batch) + "\n")
            d1.execute_file(path)
            path.unlink()
            batch, size = ["PRAGMA defer_foreign_keys = true;"], 0
        if line is not None:
            batch.append(line)
            size += len(line)


def check_closed(path):
    """Stop if any process (a workerd of wrangler) has the file open."""
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(path)):
            sys.exit(f"{path} is open in process {fd.parts[2]}: wrangler must be stopped")


def open_stopped(d1):
    """D1's SQLite file (the benchmark's config has one database), checked
    that no wrangler has it open."""
    path = d1.sqlite_file()
    if path is None:
        sys.exit(f"expected one database in the local D1 state of {d1.config}")
    check_closed(path)
    return path


def fill_with_sqlite(d1, seed):
    """The seed's tables into D1's SQLite file with sqlite3, wrangler stopped,
    in one transaction: tables, rows, then indexes and triggers."""
    d1.execute("select 1")  # wrangler creates the database's file, then stops
    copy_tables(seed, open_stopped(d1))


class SQLiteFile:
    """Answers the push's schema queries from D1's SQLite file, as
    scripts/d1/wrangler.py's Wrangler.query answers them from D1."""

    def __init__(self, conn):
        self.conn = conn

    def query(self, statements):
        if isinstance(statements, str):
            statements = [statements]
        results = []
        for statement in statements:
            cursor = self.conn.execute(statement)
            names = [d[0] for d in cursor.description or ()]
            results.append([dict(zip(names, row, strict=True)) for row in cursor])
        return results


def write_push_result(d1):
    """What the initial make d1-push leaves in D1, written into D1's SQLite file
    (wrangler stopped) from the migrated file and what the pull saw. Returns
    the counts written."""
    local = Path(d1.make_env()["D1_FILE"])
    manifest = json.loads((patch_dir(local) / "manifest.json").read_text())
    target = open_stopped(d1)
    # 1. the push's schema step, its questions answered by the file
    conn = sqlite3.connect(target, isolation_level=None)
    local_conn = sqlite3.connect(local)
    schema = schema_statements(SQLiteFile(conn), local_conn, manifest)
    local_conn.close()
    conn.execute("begin")
    for statement in schema:
        conn.execute(statement)
    conn.execute("commit")
    conn.close()
    # 2. the parts: the patch's sync_data rows, then the migration's tables
    conn = sqlite3.connect(local, isolation_level=None)
    conn.execute(f"attach '{snapshot_path(local)}' as pulled")
    conn.execute(f"attach '{target}' as d1")
    conn.execute("begin")
    sync_data_changes(conn, manifest["pulled"]["pulled_at"])
    n_inserts, n_updates, last = conn.execute(
        "select coalesce(sum(is_insert), 0), coalesce(sum(not is_insert), 0),"
        " coalesce(max(ord), 0) from temp.change_sync_data"
    ).fetchone()
    cols = columns(conn, SYNC_DATA)
    base = 0
    if manifest["seq"]:
        base = conn.execute(f"select current_value from d1.{SEQUENCE} where id = 1").fetchone()[0]
    # each write takes current_value + 1, in the patch's order (ord: key order)
    values = ", ".join(f"{base} + ord" if c == "seq" else quoted(c) for c in cols)
    inserted = conn.execute(
        f"insert into d1.sync_data ({', '.join(map(quoted, cols))}) select {values}"
        " from temp.change_sync_data where is_insert order by ord"
    ).rowcount
    sets = ", ".join(
        f"{quoted(c)} = {base} + c.ord" if c == "seq" else f"{quoted(c)} = c.{quoted(c)}"
        for c in PUSH_UPDATES
        if c in cols
    )
    updated = conn.execute(
        f"update d1.sync_data as s set {sets} from temp.change_sync_data as c"
        " where not c.is_insert and s.user_id = c.user_id and s.entity_type = c.entity_type"
        " and s.entity_id = c.entity_id and s.checksum is c.p_checksum"
        " and s.deleted_at is c.p_deleted_at and s.version is c.p_version"
    ).rowcount
    if (inserted, updated) != (n_inserts, n_updates):
        sys.exit(
            f"D1 is not as the pull saw it: {inserted} of {n_inserts} inserts,"
            f" {updated} of {n_updates} updates apply"
        )
    if manifest["seq"] and last:
        conn.execute(
            f"update d1.{SEQUENCE} set current_value = max(current_value, {base + last})"
            " where id = 1"
        )
    # the patch makes each of the migration's tables in D1 what the migrated
    # file holds (the guarded rows apply: D1's sync_data is now as the run left it)
    counts = {"sync_data": inserted + updated}
    for table in OWN_TABLES:
        if table in tables(conn):
            names = ", ".join(map(quoted, columns(conn, table)))
            conn.execute(f"delete from d1.{quoted(table)}")
            counts[table] = conn.execute(
                f"insert into d1.{quoted(table)} ({names}) select {names} from main.{quoted(table)}"
            ).rowcount
    conn.execute("commit")
    conn.close()
    if manifest["seq"]:
        counts[f"{SEQUENCE}.current_value"] = base + last
    return counts


def count_rows(d1, names):
    """Rows of each table, as wrangler's local D1 counts them."""
    query = ", ".join(f"(select count(*) from {quoted(t)}) as {quoted(t)}" for t in names)
    return d1.rows(f"select {query}")[0]


def timed(d1, target):
    started = time.monotonic()
    proc = subprocess.run(
        ["make", "--no-print-directory", target],
        cwd=PROJECT_DIR,
        env=d1.make_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        why = ""
        if "Invalid string length" in proc.stdout + proc.stderr:
            why = (
                "\nwrangler's local export is one JSON string, at most 2^29 - 24 characters:"
                " this database is too large to pull from local D1 (see this script's docstring)."
            )
        sys.exit(f"make {target} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}{why}")
    summary = [line for line in proc.stdout.splitlines() if line.startswith(("d1-", "migration "))]
    return time.monotonic() - started, summary


def build_seed(seed, args):
    subprocess.run(
        [
            sys.executable,
            str(PROJECT_DIR / "benchmarks" / "generate_backend.py"),
            "build",
            str(seed),
            "--users",
            str(args.users),
            "--logbook",
            str(args.logbook),
            "--goals",
            str(args.goals),
            "--sessions",
            str(args.sessions),
        ],
        check=True,
        env=dict(os.environ, DO_NOT_TRACK="1"),
    )
    make_production_shaped_sqlite(seed)
    with sqlite3.connect(seed) as conn:
        drop_orphans(conn)


def duration(seconds):
    if seconds < 5400:
        return f"{seconds / 60:.1f} minutes"
    return f"{seconds / 3600:.1f} hours"


def listing(counts):
    return ", ".join(f"{table} {n:,}" for table, n in counts.items())


def main():
    started = time.monotonic()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--logbook", type=int, default=100_000)
    parser.add_argument("--goals", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument(
        "--initial-push-rows",
        type=int,
        default=None,
        help="over this many backend rows, write the initial push's result into D1's"
        " SQLite file instead of running make d1-push (default: always push)",
    )
    parser.add_argument(
        "--check-seeded",
        action="store_true",
        help="after that write, run d1-pull and d1-migrate and stop unless nothing is to push",
    )
    parser.add_argument("--fill", choices=("sqlite", "wrangler"), default="sqlite")
    parser.add_argument("--folder", default="/tmp/d1-bench")
    parser.add_argument("--out", default=str(PROJECT_DIR / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    folder = Path(args.folder)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    seed = folder / "seed.db"
    build_seed(seed, args)
    print(f"seed built: {time.monotonic() - started:.0f} s", flush=True)
    d1 = LocalD1(folder / "app")
    step_started = time.monotonic()
    if args.fill == "sqlite":
        fill_with_sqlite(d1, seed)
    else:
        fill_with_wrangler(d1, seed, folder)
    filled = count_rows(d1, (*BACKEND, SYNC_DATA))
    print(
        f"local D1 filled ({args.fill}) in {time.monotonic() - step_started:.0f} s:"
        f" {listing(filled)}",
        flush=True,
    )
    rows = args.logbook + args.goals + args.sessions
    skip_push = args.initial_push_rows is not None and rows > args.initial_push_rows
    results, written, changes = [], None, None
    for label in ("initial", "1% changed"):
        if label != "initial":
            # local D1's answer has no count of changes: the rows are counted first
            changes = d1.rows(
                "select "
                + ", ".join(
                    f"(select count(*) from {t} where rowid % 100 = 0) as {t}"
                    for t in CHANGED_TABLES
                )
            )[0]
            d1.execute(";\n".join(CHANGE_1_PERCENT))
            print(f"1% change: {listing(changes)}", flush=True)
        for step in ("d1-pull", "d1-migrate", "d1-push"):
            if step == "d1-push" and label == "initial" and skip_push:
                step_started = time.monotonic()
                written = write_push_result(d1)
                results.append((label, step, None, "not run: see below"))
                print(
                    f"initial push not run; written into D1's file in"
                    f" {time.monotonic() - step_started:.0f} s: {listing(written)}",
                    flush=True,
                )
                continue
            seconds, summary = timed(d1, step)
            results.append((label, step, seconds, summary[-1] if summary else ""))
            print(f"{label} {step}: {seconds:.1f} s", flush=True)
        if label == "initial" and skip_push and args.check_seeded:
            check_seeded(d1, results)
    local = Path(d1.make_env()["D1_FILE"])
    report = json.loads((patch_dir(local) / "push-report.json").read_text())
    lines = page_section(args, filled, rows, results, written, changes, report, started)
    replace_section(Path(args.out), D1_SECTION, lines)
    print("\n".join(lines))


def replace_section(page, heading, lines):
    """The page with its section `heading` (to the next "## " heading) made
    of lines; appended when the page has none."""
    old = page.read_text() if page.exists() else ""
    if heading not in old:
        page.write_text(old.rstrip("\n") + "\n\n" + "\n".join(lines))
        return
    before, rest = old.split(heading, 1)
    after = rest[rest.index("\n## ") + 1 :] if "\n## " in rest else ""
    page.write_text(before + "\n".join(lines) + ("\n" + after if after else ""))


def check_seeded(d1, results):
    """A pull and a migration of the written state find nothing to push."""
    for step in ("d1-pull", "d1-migrate"):
        seconds, summary = timed(d1, step)
        results.append(("check, unchanged", step, seconds, summary[-1] if summary else ""))
        print(f"check {step}: {seconds:.1f} s", flush=True)
    local = Path(d1.make_env()["D1_FILE"])
    counts = json.loads((patch_dir(local) / "manifest.json").read_text())["counts"]
    left = {k: v for k, v in counts.items() if k not in ("migration_runs",) and v}
    if left:
        sys.exit(f"the written state is not what the push leaves: the patch still holds {left}")


def page_section(args, filled, rows, results, written, changes, report, started):
    command = (
        f"`.venv/bin/python benchmarks/d1_round_trip.py --logbook {args.logbook}"
        f" --goals {args.goals} --sessions {args.sessions} --users {args.users}"
        + (
            f" --initial-push-rows {args.initial_push_rows}"
            if args.initial_push_rows is not None
            else ""
        )
        + (" --check-seeded" if args.check_seeded else "")
        + (" --fill wrangler" if args.fill == "wrangler" else "")
        + "`"
    )
    how = (
        "copied with sqlite3 into the SQLite file of wrangler's local D1, wrangler stopped"
        if args.fill == "sqlite"
        else "sent through `wrangler d1 execute` in files of about 20 MB"
    )
    lines = [
        D1_SECTION,
        "",
        f"Measured on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with {command}, on"
        f" wrangler's local D1 (workerd, the same machine): {rows:,} backend rows"
        f" ({args.logbook:,} logbook entries, {args.goals:,} goals, {args.sessions:,} practice"
        f" sessions, {args.users:,} users) in production's shape, then 1% of each table"
        " changed in D1. Each time is the whole `make` command, wrangler's start-ups included.",
        "",
        f"Before the first step local D1 held, as `wrangler d1 execute` counts them:"
        f" {listing(filled)} (the seed's tables {how}; not timed). The 1% change"
        f" updated {listing(changes)} rows through `wrangler d1 execute` (not timed).",
        "",
        "| run | step | seconds | what it printed |",
        "| --- | --- | ---: | --- |",
    ]
    for label, step, seconds, summary in results:
        cut = summary.split(": ", 1)[-1][:200].replace("|", "\\|")
        shown = "not run" if seconds is None else f"{seconds:.1f}"
        lines.append(f"| {label} | `make {step}` | {shown} | {cut} |")
    push = {label: seconds for label, step, seconds, _ in results if step == "d1-push" and seconds}
    changed = report["applied"] + report["skipped"] + report["not_applied"]
    per_changed = push["1% changed"] / changed * 1000
    lines.append("")
    if written is not None:
        lines.append(
            f"The initial `make d1-push` was not run: {rows:,} backend rows are over"
            f" `--initial-push-rows {args.initial_push_rows}`. Instead, what it leaves in D1"
            " was written with sqlite3 into local D1's SQLite file, wrangler stopped, not timed:"
            " the push's own schema statements, the patch's sync_data rows as the push writes"
            " them (seq taken from sync_sequence in key order), and the migration's tables as"
            f" the migrated file holds them ({listing(written)})."
            + (
                " The check rows above are a `make d1-pull` and `make d1-migrate` of that"
                " state: its patch holds no sync_data, ledger or conflict row."
                if args.check_seeded
                else ""
            )
            + f" A full initial push measured {FULL_PUSH_MEASURED}; at that rate this one"
            f" would take about {duration(rows * FULL_PUSH_MS_PER_ROW / 1000)}."
        )
        lines.append("")
        compared = f"against {FULL_PUSH_MEASURED} for a full push"
    else:
        compared = (
            f"against {push['initial'] / rows * 1000:.1f} ms per row for the initial push of"
            f" all {rows:,}"
        )
    lines += [
        f"The 1% push sent {changed:,} changed sync_data rows ({changed / rows:.1%} of the"
        f" {rows:,} backend rows; {report['applied']:,} applied, {report['skipped']:,} skipped,"
        f" {report['not_applied']:,} not applied) in {push['1% changed']:.1f} s:"
        f" {per_changed:.1f} ms per changed row, start-ups and the read-back included,"
        f" {compared}. A part stages its rows with multi-row inserts and writes them with"
        " a few set-based guarded statements (scripts/d1/guard.py); remotely each part is"
        " one import, counted in the next section.",
        "",
        f"The whole run, seed and setup included, took {duration(time.monotonic() - started)}.",
        "",
        "Not measured at 1,200,000 rows: local D1 cannot export a database that large once"
        " sync_data is filled. `wrangler d1 export --local` returns the whole dump as one"
        " JavaScript string (at most 2^29 - 24 characters, about 1,280 per backend row here),"
        " and at 300,000 rows workerd aborted during the pull's export (signal 6). Remote D1"
        " exports through Cloudflare's export API instead; see docs/d1.md, D1's limits.",
        "",
    ]
    return lines


if __name__ == "__main__":
    main()
