"""Benchmark the migration against the raw floor, at scale, and write docs/benchmarks.md.

    .venv/bin/python benchmarks/run_benchmark.py [--logbook N --goals N --sessions N --users N]
        [--repeat 3] [--peer-sample 20000] [--scale 1200000,d1] [--out docs/benchmarks.md]

At the main size (default 240,000 rows to migrate), each scenario on its own
copy of one generated backend:
- start-up: a dbt run that selects nothing, on a new database path each time;
- the project: the initial migration (median of --repeat, each beside a raw
  floor's, so that the machine's drift within minutes does not move the ratio),
  a re-run with nothing changed (median of --repeat), a re-run after 1% of the
  rows changed and 0.1% were added, each
  re-run with `compare: changed` (only the keys marked as changed since the
  last run) and once with `compare: all` (every key, the default) on a copy;
  model time is dbt's own (run_results.json), start-up apart;
- the raw floor (benchmarks/raw_floor.py): hand-written SQL with SQLite's
  native json_object/strftime and sha256, one transaction, recomputing every
  document; initial (median of --repeat, alternating with the project's) and
  again;
- the project's SQL without dbt: the documented models' compiled SQL wrapped
  in one INSERT ... ON CONFLICT per entity type (dbt's overhead, not a floor);
- the old script's algorithm, row by row with autocommit, on a sample.
Then the scale runs (--scale: row counts, "d1" for the count that fills D1's
10 GB at the generator's row sizes, estimated from the main size's migrated
database): an initial migration each, its cost per row, peak RSS and the
work file's size against the source data's.
The backend and sync_data have production's shape (tests_py/production_shape.py:
seq, sync_sequence, the backend's newer columns), as the D1 database has now.
Checks, every run: a sample of documents equals the JavaScript oracle's,
every checksum is sha256(data), the raw floor and the project migrate the
same keys, and the 1% run wrote exactly the changed and added rows.
Where the time goes: each dbt run's slowest statements, from its own log
(benchmarks/statement_profile.py).
"""

import argparse
import hashlib
import json
import os
import pickle
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR / "tests_py"))
sys.path.insert(0, str(PROJECT_DIR / "benchmarks"))

import generate_backend  # noqa: E402
import raw_floor  # noqa: E402
import statement_profile  # noqa: E402
from conftest import CRYPTO_EXT, JS_JSON_EXT, oracle  # noqa: E402
from production_shape import make_production_shaped_sqlite  # noqa: E402

DBT = PROJECT_DIR / ".venv" / "bin" / "dbt"
WORK = PROJECT_DIR / "target" / "bench"
# dbt's target folder for the benchmark's runs (run_results.json, partial
# parsing, compiled SQL), apart from any other dbt command meanwhile
DBT_TARGET = WORK / "dbt-target"
RESULTS = WORK / "results.pickle"
ENTITY_TABLES = {
    "logbook_entry": "logbook_entries",
    "goal": "goals",
    "practice_session": "practice_sessions",
}
D1_LIMIT_BYTES = 10_000_000_000  # D1's documented size limit per database
# The heading of the section benchmarks/d1_round_trip.py owns, to the end of
# the page.
D1_SECTION = "## The D1 round trip"
# The document diff's part of a run (report_document_diff): from its first
# statement to its last console line.
DIFF_START = 'drop table if exists temp."sync_data__diff"'
DIFF_END = "every key and field is in"


def measured(cmd, env=None):
    """Run a command; return (wall seconds, peak RSS in MB, output)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({code}):\n{out[-5000:]}")
    return wall, usage.ru_maxrss / 1024, out


def dbt_env(db, log_dir=None):
    env = dict(
        os.environ,
        SYNC_DB_PATH=str(db),
        DBT_SEND_ANONYMOUS_USAGE_STATS="False",
        DO_NOT_TRACK="1",
        DBT_USE_COLORS="False",
        DBT_TARGET_PATH=str(DBT_TARGET),
    )
    if log_dir:
        env["DBT_LOG_PATH"] = str(log_dir)
    return env


CHANGED = ("--vars", "{compare: changed}")


def dbt_run(db, name, *args):
    """One `dbt run --target prod`; its wall time, model time, RSS and slowest statements."""
    log_dir = WORK / "logs" / name
    shutil.rmtree(log_dir, ignore_errors=True)
    wall, rss, out = measured(
        [str(DBT), "run", "--target", "prod", *args], env=dbt_env(db, log_dir)
    )
    if args == CHANGED and "comparing the keys that may have changed" not in out:
        raise SystemExit(f"{name}: the run did not narrow its comparison:\n{out[-3000:]}")
    results = json.loads((DBT_TARGET / "run_results.json").read_text())
    return dict(
        wall=wall,
        model=results["elapsed_time"],
        rss=rss,
        profile=statement_profile.statements(log_dir / "dbt.log"),
        diff=statement_profile.span(log_dir / "dbt.log", DIFF_START, DIFF_END),
    )


def copy_database(db, copy):
    """The database and its work file."""
    shutil.copy(db, copy)
    shutil.copy(f"{db}.dbt-work", f"{copy}.dbt-work")


def sync_data_state(db):
    """What the API's clients would see of sync_data, hashed."""
    digest = hashlib.sha256()
    with sqlite3.connect(db) as conn:
        for row in conn.execute(
            "select user_id, entity_type, entity_id, data, checksum, version, seq,"
            " deleted_at is null from sync_data order by user_id, entity_type, entity_id"
        ):
            digest.update(repr(row).encode())
    return digest.hexdigest()


def written_rows(db):
    return sum(c["inserted"] + c["updated"] for c in last_run_counts(db).values())


def rows_to_migrate(args):
    return args.logbook + args.goals + args.sessions


def generate(path, users, logbook, goals, sessions):
    started = time.monotonic()
    generate_backend.main(
        [
            "build",
            str(path),
            "--users",
            str(users),
            "--logbook",
            str(logbook),
            "--goals",
            str(goals),
            "--sessions",
            str(sessions),
        ]
    )
    make_production_shaped_sqlite(path)
    return time.monotonic() - started


def last_run_counts(db):
    with sqlite3.connect(db) as conn:
        run_id = conn.execute(
            "select run_id from migration_runs order by rowid desc limit 1"
        ).fetchone()[0]
        rows = conn.execute(
            "select entity_type, processed_count, inserted_count, updated_count, skipped_count, error_count"
            " from migration_runs where run_id = ?",
            (run_id,),
        ).fetchall()
    return {
        r[0]: dict(
            zip(["processed", "inserted", "updated", "skipped", "errors"], r[1:], strict=True)
        )
        for r in rows
    }


def connect(db):
    conn = sqlite3.connect(db, isolation_level=None)
    conn.enable_load_extension(True)
    conn.load_extension(str(CRYPTO_EXT))
    conn.load_extension(str(JS_JSON_EXT))
    return conn


def project_sql_statements(pristine):
    """The project's SQL without dbt: one INSERT ... ON CONFLICT per entity type
    around the documented models' compiled SQL."""
    subprocess.run(
        [str(DBT), "compile", "--quiet", "--target", "prod", "--select", "intermediate"],
        cwd=PROJECT_DIR,
        env=dbt_env(pristine),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    run_ms = int(time.time() * 1000)
    statements = {}
    for entity_type, table in ENTITY_TABLES.items():
        staging = (
            DBT_TARGET
            / f"compiled/sync_data_migration/models/intermediate/int_{table}_documented.sql"
        ).read_text()
        statements[entity_type] = f"""
insert into sync_data (id, user_id, entity_type, entity_id, data, checksum, version, created_at, updated_at)
select 'sync_{run_ms}_{entity_type[0]}' || printf('%08d', row_number() over ()), documents.user_id,
       documents.entity_type, documents.entity_id, documents.data, documents.checksum, 1,
       current_timestamp, current_timestamp
from ({staging}) as documents
where documents.reject_reason is null and documents.user_id in (select id from users)
on conflict (user_id, entity_type, entity_id) do update set
    data = excluded.data, checksum = excluded.checksum, version = sync_data.version + 1,
    updated_at = current_timestamp
where sync_data.checksum is not excluded.checksum"""
    return statements


def run_project_sql(db, statements):
    conn = connect(db)
    written = 0
    started = time.monotonic()
    for sql in statements.values():
        conn.execute("begin")
        written += conn.execute(sql).rowcount
        conn.execute("commit")
    wall = time.monotonic() - started
    conn.close()
    return wall, written


def peer_document(entity_type, row):
    """The old script built each document in JavaScript; here in Python, one row at a time."""

    def iso(ms):
        seconds, millis = divmod(int(ms), 1000)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"

    empty = lambda v: v is None or v == ""  # noqa: E731
    if entity_type == "logbook_entry":
        doc = {
            "id": row["id"],
            "timestamp": iso(row["timestamp"]),
            "duration": row["duration"],
            "type": row["type"],
            "instrument": row["instrument"],
            "pieces": json.loads(row["pieces"] or "[]"),
            "techniques": json.loads(row["techniques"] or "[]"),
            "goalIds": json.loads(row["goal_ids"] or "[]"),
            "notes": None if empty(row["notes"]) else row["notes"],
            "mood": None if empty(row["mood"]) else row["mood"],
            "tags": json.loads(row["tags"] or "[]"),
            "sessionId": None if empty(row["session_id"]) else row["session_id"],
            "metadata": json.loads(row["metadata"])
            if not empty(row["metadata"])
            else {"source": "manual"},
            "createdAt": iso(row["created_at"]),
            "updatedAt": iso(row["updated_at"]),
        }
    else:
        doc = dict(row)
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def run_peer(db, sample):
    """Per row: read the source row, build the document, read the stored
    checksum, upsert; every statement committed on its own (autocommit)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.row_factory = sqlite3.Row
    ids = [
        r[0]
        for r in conn.execute("select id from logbook_entries order by rowid limit ?", (sample,))
    ]
    started = time.monotonic()
    written = 0
    for entity_id in ids:
        row = conn.execute("select * from logbook_entries where id = ?", (entity_id,)).fetchone()
        data = peer_document("logbook_entry", dict(row))
        checksum = hashlib.sha256(data.encode()).hexdigest()
        stored = conn.execute(
            "select checksum from sync_data where user_id = ? and entity_type = 'logbook_entry' and entity_id = ?",
            (row["user_id"], entity_id),
        ).fetchone()
        if stored and stored[0] == checksum:
            continue
        conn.execute(
            "insert into sync_data (id, user_id, entity_type, entity_id, data, checksum, version)"
            " values (?, ?, 'logbook_entry', ?, ?, ?, 1)"
            " on conflict (user_id, entity_type, entity_id) do update set data = excluded.data,"
            " checksum = excluded.checksum, version = sync_data.version + 1, updated_at = current_timestamp",
            (f"sync_peer_{written}", row["user_id"], entity_id, data, checksum),
        )
        written += 1
    wall = time.monotonic() - started
    conn.close()
    return wall, written


def machine():
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        (
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        "0",
    )
    dbt_version = subprocess.run([str(DBT), "--version"], capture_output=True, text=True).stdout
    core = next(
        (line.split(":")[1].strip() for line in dbt_version.splitlines() if "installed" in line),
        "?",
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(int(mem) / 1024 / 1024, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "dbt": core,
    }


def key_set_difference(project_db, floor_db):
    """Keys one of the two migrated and the other did not."""
    with sqlite3.connect(project_db) as conn:
        conn.execute("attach ? as floor", (str(floor_db),))
        return conn.execute(
            "select count(*) from ("
            " select user_id, entity_type, entity_id from main.sync_data"
            " except select user_id, entity_type, entity_id from floor.sync_data"
            " union all"
            " select user_id, entity_type, entity_id from floor.sync_data"
            " except select user_id, entity_type, entity_id from main.sync_data)"
        ).fetchone()[0]


def check_documents(db, sample):
    """Problems found: checksums that are not sha256(data), sampled documents
    that differ from the JavaScript oracle's. Returns (problems, sampled)."""
    problems = []
    with sqlite3.connect(db) as conn:
        bad = sum(
            1
            for data, checksum in conn.execute("select data, checksum from sync_data")
            if hashlib.sha256(data.encode()).hexdigest() != checksum
        )
        if bad:
            problems.append(f"{bad} checksums are not sha256(data)")
        conn.row_factory = sqlite3.Row
        rng = random.Random(1)
        items, stored = [], []
        for entity_type, table in ENTITY_TABLES.items():
            count = conn.execute(f"select max(rowid) from {table}").fetchone()[0]
            for rowid in rng.sample(range(1, count + 1), min(sample // 3, count)):
                row = conn.execute(f"select * from {table} where rowid = ?", (rowid,)).fetchone()
                if row is None:
                    continue
                found = conn.execute(
                    "select data from sync_data"
                    " where entity_type = ? and entity_id = ? and user_id = ?",
                    (entity_type, row["id"], row["user_id"]),
                ).fetchone()
                items.append({"entity_type": entity_type, "row": dict(row), "user_exists": True})
                stored.append(found[0] if found else None)
    verdicts = oracle(items)
    wrong = sum(1 for v, got in zip(verdicts, stored, strict=True) if v.get("data") != got)
    if wrong:
        problems.append(
            f"{wrong} of {len(items)} sampled documents differ from the JavaScript oracle"
        )
    return problems, len(items)


def startup(pristine, repeat):
    """A run that selects nothing, each on a database path dbt has not seen."""
    first = WORK / "startup-0.db"
    shutil.copy(pristine, first)
    dbt_run(first, "startup", "--select", "tag:nothing_has_this_tag")
    times = []
    for i in range(1, repeat + 1):
        path = WORK / f"startup-{i}.db"
        shutil.copy(pristine, path)
        times.append(dbt_run(path, "startup", "--select", "tag:nothing_has_this_tag")["wall"])
        path.unlink()
    first.unlink()
    return statistics.median(times)


def scale_run(rows, shares, sample):
    """An initial migration at `rows` rows; its cost per row, RSS and file sizes."""
    logbook = round(rows * shares[0])
    goals = round(rows * shares[1])
    sessions = rows - logbook - goals
    users = max(1, round(rows / 120))
    db = WORK / "scale.db"
    for path in WORK.glob("scale.db*"):
        path.unlink()
    build = generate(db, users, logbook, goals, sessions)
    source = db.stat().st_size
    run = dbt_run(db, f"scale-{rows}")
    work_file = Path(f"{db}.dbt-work").stat().st_size
    with sqlite3.connect(db) as conn:
        migrated = conn.execute("select count(*) from sync_data").fetchone()[0]
        expected = sum(
            conn.execute(
                f"select count(*) from {table} where user_id in (select id from users)"
            ).fetchone()[0]
            for table in ENTITY_TABLES.values()
        )
    problems, sampled = check_documents(db, sample)
    if migrated != expected:
        problems.append(f"{migrated} rows migrated, {expected} backend rows have a user")
    for path in WORK.glob("scale.db*"):
        path.unlink()
    return dict(
        rows=rows,
        users=users,
        build=build,
        source=source,
        work_file=work_file,
        per_row_us=run["model"] / rows * 1e6,
        problems=problems,
        sampled=sampled,
        **run,
    )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--logbook", type=int, default=200_000)
    parser.add_argument("--goals", type=int, default=20_000)
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peer-sample", type=int, default=20_000)
    parser.add_argument(
        "--scale",
        default="1200000,d1",
        help="row counts of the scale runs; d1 = the count that fills D1's 10 GB; '' for none",
    )
    parser.add_argument("--out", default=str(PROJECT_DIR / "docs" / "benchmarks.md"))
    parser.add_argument(
        "--report-from",
        help="write the report from a RESULTS file of an earlier run (its measurements kept)",
    )
    args = parser.parse_args()
    if args.report_from:
        with open(args.report_from, "rb") as saved:
            write_report(args, pickle.load(saved))
        return
    sizes = [size.strip() for size in args.scale.split(",") if size.strip()]
    for size in sizes:
        if size != "d1" and not size.isdigit():
            parser.error(f"--scale: {size!r} is neither a row count nor d1")

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    pristine = WORK / "backend.db"
    build_seconds = generate(pristine, args.users, args.logbook, args.goals, args.sessions)
    total = rows_to_migrate(args)
    r = {"build": build_seconds, "total": total, "problems": []}

    print("start-up: a run selecting nothing, on new paths", flush=True)
    r["startup"] = startup(pristine, args.repeat)

    print("1. the project's initial migration and 2. the raw floor, alternately", flush=True)
    project_db = WORK / "project.db"
    floor_db = WORK / "raw_floor.db"
    initials, floors = [], []
    for i in range(args.repeat):
        Path(f"{project_db}.dbt-work").unlink(missing_ok=True)
        shutil.copy(pristine, project_db)
        initials.append(dbt_run(project_db, "initial" if i == 0 else f"initial_{i}"))
        shutil.copy(pristine, floor_db)
        floors.append(raw_floor.run(floor_db))
    initials.sort(key=lambda run: run["model"])
    floors.sort()
    r["initial"] = initials[len(initials) // 2]
    r["initial"]["written"] = written_rows(project_db)
    r["bytes_per_row"] = project_db.stat().st_size / total
    r["source"] = pristine.stat().st_size
    r["work_file"] = Path(f"{project_db}.dbt-work").stat().st_size
    r["floor"] = floors[len(floors) // 2]
    r["floor_again"] = raw_floor.run(floor_db)
    difference = key_set_difference(project_db, floor_db)
    if difference:
        r["problems"].append(f"the raw floor and the project differ on {difference} keys")
    floor_db.unlink()

    print("3. the project: re-run, nothing changed", flush=True)
    reruns = []
    for i in range(args.repeat):
        run = dbt_run(project_db, f"no_change_{i}", *CHANGED)
        run["written"] = written_rows(project_db)
        reruns.append(run)
    reruns.sort(key=lambda run: run["model"])
    r["no_change"] = dict(reruns[len(reruns) // 2], written=max(x["written"] for x in reruns))
    all_db = WORK / "project_all.db"
    copy_database(project_db, all_db)
    r["no_change_all"] = dbt_run(all_db, "no_change_all")
    r["no_change_all"]["written"] = written_rows(all_db)

    print("4. the project: re-run after 1% changed, 0.1% added", flush=True)
    changed = generate_backend.main(
        ["change", str(project_db), "--changed", "0.01", "--added", "0.001"]
    )
    copy_database(project_db, all_db)
    r["one_percent"] = dbt_run(project_db, "one_percent", *CHANGED)
    counts = last_run_counts(project_db)
    r["one_percent"]["written"] = sum(c["inserted"] + c["updated"] for c in counts.values())
    r["one_percent_all"] = dbt_run(all_db, "one_percent_all")
    r["one_percent_all"]["written"] = written_rows(all_db)
    if sync_data_state(all_db) != sync_data_state(project_db):
        r["problems"].append("the 1% run left another sync_data with compare: all")
    all_db.unlink()
    Path(f"{all_db}.dbt-work").unlink()
    r["changed"] = changed
    r["expected_written"] = sum(c[0] + c[1] for c in changed.values())
    exact = all(
        counts[et]["inserted"] == changed[t][1] and counts[et]["updated"] == changed[t][0]
        for et, t in ENTITY_TABLES.items()
    )
    if not exact:
        r["problems"].append(
            f"the 1% run wrote {r['one_percent']['written']} rows,"
            f" {r['expected_written']} changed or added"
        )

    print("checks: documents against the JavaScript oracle, checksums", flush=True)
    problems, r["sampled"] = check_documents(project_db, 2_000)
    r["problems"] += problems
    project_db.unlink()
    Path(f"{project_db}.dbt-work").unlink()

    print("5. the project's SQL without dbt", flush=True)
    statements = project_sql_statements(pristine)
    sql_db = WORK / "project_sql.db"
    shutil.copy(pristine, sql_db)
    r["project_sql"] = run_project_sql(sql_db, statements)
    r["project_sql_again"] = run_project_sql(sql_db, statements)
    sql_db.unlink()

    print("6. the old script's algorithm, row by row, on a sample", flush=True)
    peer_db = WORK / "peer.db"
    shutil.copy(pristine, peer_db)
    r["peer"] = run_peer(peer_db, args.peer_sample)
    peer_db.unlink()

    shares = (args.logbook / total, args.goals / total)
    r["d1_rows"] = int(D1_LIMIT_BYTES / r["bytes_per_row"] // 100_000 * 100_000)
    r["scale"] = []
    for size in sizes:
        rows = r["d1_rows"] if size == "d1" else int(size)
        print(f"scale: initial migration at {rows:,} rows", flush=True)
        run = scale_run(rows, shares, 600)
        r["problems"] += [f"at {rows:,} rows: {p}" for p in run["problems"]]
        r["scale"].append(run)

    # the measurements, so that the report's text can be rewritten without
    # measuring again (--report-from)
    with open(RESULTS, "wb") as saved:
        pickle.dump(r, saved)
    write_report(args, r)
    print(Path(args.out).read_text())
    if r["problems"]:
        raise SystemExit("checks failed: " + "; ".join(r["problems"]))


def profile_rows(run, top=6):
    """The slowest statements of a dbt run, and dbt's own time around them."""
    in_sql = sum(seconds for seconds, _ in run["profile"])
    lines = [f"| {seconds:.2f} | `{text}` |" for seconds, text in run["profile"][:top]]
    rest = in_sql - sum(seconds for seconds, _ in run["profile"][:top])
    lines.append(f"| {rest:.2f} | the other {max(len(run['profile']) - top, 0)} statements |")
    lines.append(
        f"| {max(run['model'] - in_sql, 0):.2f} | dbt itself (Jinja, hooks, bookkeeping) |"
    )
    return lines


STAGES = [
    ("documents: the int_*_documented models (fingerprint, checks, documents, cache)", "int_"),
    (
        "the merge: sync_data's materialization (compare, classify, write, ledger, history)",
        "sync_data:",
    ),
    ("the run's hooks and summary (preflight, the API-rows report)", ""),
]


def stage_seconds(run):
    """Seconds of a run's statements per stage of the pipeline, and dbt's own."""
    totals = [0.0] * len(STAGES)
    for seconds, text in run["profile"]:
        for i, (_, prefix) in enumerate(STAGES):
            if text.startswith(prefix):
                totals[i] += seconds
                break
    return totals + [max(run["model"] - sum(totals), 0)]


def explanation(r):
    """Where each run's model time goes, by stage, and what explains the distance."""
    runs = [r["initial"], r["no_change"], r["one_percent"], r["no_change_all"]]
    stages = [stage_seconds(run) for run in runs]
    floor = r["floor"][0]
    lines = [
        "By stage (seconds of model time; the re-runs with compare: changed, then the "
        "nothing-changed re-run with compare: all):",
        "",
        "| stage | initial | nothing changed | 1% changed | nothing changed, all |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    labels = [label for label, _ in STAGES] + ["dbt itself"]
    for i, label in enumerate(labels):
        lines.append(f"| {label} | " + " | ".join(f"{s[i]:.2f}" for s in stages) + " |")
    lines.append(
        f"| raw floor, for comparison | {floor:.2f} | {r['floor_again'][0]:.2f} | | "
        f"{r['floor_again'][0]:.2f} |"
    )
    work = r["work_file"] / r["source"]
    lines += [
        "",
        "What explains the distance to the raw floor:",
        "",
        "- **The initial run writes every document twice and every key three times.** The "
        "documented models build each document (in C: js_json, js_number, js_date_iso, and the "
        "row fingerprint) and keep it in the work file so that later runs rebuild only what "
        "changed; the merge then copies it into sync_data, and writes the ownership ledger "
        "(one row per key) that lets it tell the API's edits from the backend's. The raw floor "
        "writes each document once and keeps nothing.",
        "- **A re-run with compare: changed visits only the keys marked as changed.** The "
        "last run's state (migration_merge_state) holds the marks below which every key is as "
        "it left it: the documents built since (built_in), the backend rows forgotten since, "
        "the sync_data rows written since (seq), plus the rows rejected or kept for the API. "
        "What it still pays for every key: the fingerprint of every backend row against the "
        "cache (the documented models), the look for backend rows gone (an anti-join of the "
        "cache with the backend's ids) and the report of the API's own rows (a pass over "
        "sync_data). With compare: all (the default) the merge pairs every cached checksum "
        "with the ledger, probes sync_data's key index and decides every key, as before.",
        f"- **The work file is {work:.2f}x the source data** at the main size. It holds "
        "every document with its checksum and its backend row's fingerprint, so that a "
        "re-run rebuilds only what changed and the merge finds a document it needs again (a "
        "row deleted from sync_data, a conflict settled for the backend). On SQLite they are "
        "stored as BLOBs: the document packed by the C extension's doc_pack (the contract's "
        "keys, enumerations and ISO dates as one or two bytes, about 40% of the text), the "
        "checksum as 32 bytes, the fingerprint as 16; as text the file was 2.83x. Below 1x "
        "the cache would have to keep no documents, and rebuild those it needs from the "
        "backend inside the merge.",
    ]
    return "\n".join(lines)


def write_report(args, r):
    m = machine()
    total = r["total"]
    floor, floor_written = r["floor"]
    floor_again, floor_again_written = r["floor_again"]
    sql_wall, sql_written = r["project_sql"]
    sql_again, sql_again_written = r["project_sql_again"]
    peer_wall, peer_written = r["peer"]
    peer_full = total / (peer_written / peer_wall)
    initial, no_change, one = r["initial"], r["no_change"], r["one_percent"]
    command = (
        f"`.venv/bin/python benchmarks/run_benchmark.py --users {args.users} --logbook "
        f"{args.logbook} --goals {args.goals} --sessions {args.sessions} --repeat {args.repeat} "
        f"--peer-sample {args.peer_sample} --scale {args.scale}`"
    )
    lines = [
        "# Benchmarks",
        "",
        f"Measured on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with",
        f"{command}.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB. Python {m['python']}, "
        f"SQLite {m['sqlite']}, dbt-core {m['dbt']}, dbt-sqlite 1.10.0.",
        "",
        f"Data: {args.users:,} users, {args.logbook:,} logbook entries, {args.goals:,} goals, "
        f"{args.sessions:,} practice sessions ({total:,} rows to migrate), generated by "
        f"`benchmarks/generate_backend.py` in {r['build']:.0f} s. The scale runs keep those "
        "shares, with a user per 120 rows.",
        "",
        "The raw floor (`benchmarks/raw_floor.py`) is the job done by hand: per entity type one "
        "`INSERT ... ON CONFLICT ... WHERE checksum differs`, the document built with SQLite's "
        "native `json_object`, `json()` and `strftime`, sqlean's `sha256`, one transaction, a "
        "512 MB page cache. It is not byte-exact (JSON.stringify's numbers, key order and dates "
        "are not SQLite's) and recomputes every document on every run. Model time is dbt's own "
        "`elapsed_time` (run_results.json): the run after parsing, start-up apart.",
        "",
        "## Goals",
        "",
        "| goal | measured | target | met |",
        "| --- | ---: | --- | --- |",
    ]
    scale = r["scale"]
    goals = [
        (
            "initial migration ÷ raw floor's initial (model time)",
            initial["model"] / floor,
            "≤ 1.5",
            initial["model"] / floor <= 1.5,
        ),
        (
            f"re-run, nothing changed, compare: changed ÷ raw floor's initial "
            f"({no_change['written']} rows written)",
            no_change["model"] / floor,
            "≤ 0.35, 0 rows written",
            no_change["model"] / floor <= 0.35 and no_change["written"] == 0,
        ),
        (
            f"re-run after 1% changed, compare: changed ÷ raw floor's initial "
            f"({one['written']:,} rows written, {r['expected_written']:,} changed or added)",
            one["model"] / floor,
            "≤ 0.45, exactly the changed and added rows",
            one["model"] / floor <= 0.45 and one["written"] == r["expected_written"],
        ),
        (
            "start-up on a database path dbt has not seen (s)",
            r["startup"],
            "≤ 2.5",
            r["startup"] <= 2.5,
        ),
    ]
    if len(scale) >= 2:
        growth = scale[-1]["per_row_us"] / scale[0]["per_row_us"]
        goals.append(
            (
                f"cost per row at {scale[-1]['rows']:,} ÷ at {scale[0]['rows']:,} rows",
                growth,
                "≤ 1.25",
                growth <= 1.25,
            )
        )
    if scale:
        rss = max(run["rss"] for run in scale)
        goals.append(("peak RSS of the scale runs (MB)", rss, "< 1024", rss < 1024))
        ratio = max(run["work_file"] / run["source"] for run in scale)
        goals.append(("work file ÷ source data, scale runs", ratio, "≤ 1", ratio <= 1))
    for label, value, target, met in goals:
        lines.append(f"| {label} | {value:.2f} | {target} | {'yes' if met else '**no**'} |")
    lines += [
        "",
        "The document diff (issue 26) is part of every run: its share of the model time,",
        "from its first statement to its last console line (dbt's debug log):",
        "",
        "| run | diff (s) | model time (s) | share | goal |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for label, run, goal in [
        ("initial", initial, ""),
        ("nothing changed", no_change, ""),
        ("1% changed", one, "≤ 10%"),
    ]:
        share = run["diff"] / run["model"]
        met = "" if not goal else ("met" if share <= 0.10 else "**not met**")
        lines.append(
            f"| {label} | {run['diff']:.2f} | {run['model']:.2f} | {share:.1%} | {goal} {met} |"
        )
    lines += [
        "",
        "The D1 round trip at scale: see [The D1 round trip](#the-d1-round-trip).",
        "",
        f"## At {total:,} rows",
        "",
        "| scenario | wall (s) | model time (s) | peak RSS (MB) | rows written |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| the project: initial migration (median of {args.repeat}, each beside a raw floor's) | "
        f"{initial['wall']:.1f} | {initial['model']:.1f} | "
        f"{initial['rss']:.0f} | {initial['written']:,} |",
        f"| the project: re-run, nothing changed, compare: changed (median of {args.repeat}) | "
        f"{no_change['wall']:.1f} | {no_change['model']:.1f} | {no_change['rss']:.0f} | "
        f"{no_change['written']:,} |",
        f"| the project: re-run, nothing changed, compare: all (the default) | "
        f"{r['no_change_all']['wall']:.1f} | {r['no_change_all']['model']:.1f} | "
        f"{r['no_change_all']['rss']:.0f} | {r['no_change_all']['written']:,} |",
        f"| the project: re-run after 1% changed, 0.1% added, compare: changed | "
        f"{one['wall']:.1f} | {one['model']:.1f} | {one['rss']:.0f} | {one['written']:,} |",
        f"| the project: the same re-run, compare: all | {r['one_percent_all']['wall']:.1f} | "
        f"{r['one_percent_all']['model']:.1f} | {r['one_percent_all']['rss']:.0f} | "
        f"{r['one_percent_all']['written']:,} |",
        f"| start-up: a run selecting nothing, new database path (median of {args.repeat}) | "
        f"{r['startup']:.1f} | | | 0 |",
        f"| raw floor: initial (median of {args.repeat}) | {floor:.1f} | {floor:.1f} | "
        f"(in-process) | {floor_written:,} |",
        f"| raw floor: again, nothing changed | {floor_again:.1f} | {floor_again:.1f} | "
        f"(in-process) | {floor_again_written:,} |",
        f"| the project's SQL without dbt: initial | {sql_wall:.1f} | {sql_wall:.1f} | "
        f"(in-process) | {sql_written:,} |",
        f"| the project's SQL without dbt: again, nothing changed | {sql_again:.1f} | "
        f"{sql_again:.1f} | (in-process) | {sql_again_written:,} |",
        f"| the old script's algorithm, row by row, autocommit ({peer_written:,}-row sample, "
        f"extrapolated) | {peer_full:.0f} | | | {peer_written:,} |",
        "",
    ]
    if scale:
        lines += [
            "## Scale",
            "",
            f"Initial migrations. The D1 row count: the main size's migrated database (backend, "
            f"sync_data, the migration's tables) holds {r['bytes_per_row']:,.0f} bytes per row, "
            f"so D1's 10 GB hold about {r['d1_rows']:,} rows.",
            "",
            "| rows | users | generated in (s) | wall (s) | model time (s) | µs per row | "
            "peak RSS (MB) | source data (MB) | work file (MB) |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for run in scale:
            lines.append(
                f"| {run['rows']:,} | {run['users']:,} | {run['build']:.0f} | {run['wall']:.0f} | "
                f"{run['model']:.0f} | {run['per_row_us']:.1f} | {run['rss']:.0f} | "
                f"{run['source'] / 1e6:,.0f} | {run['work_file'] / 1e6:,.0f} |"
            )
        lines.append("")
    lines += ["## Where the time goes", ""]
    for title, run in [
        ("initial migration", initial),
        ("re-run, nothing changed (compare: changed)", no_change),
        ("re-run, nothing changed (compare: all)", r["no_change_all"]),
        ("re-run after 1% changed (compare: changed)", one),
    ]:
        lines += [
            f"The project's {title}, {run['model']:.1f} s of model time, by statement "
            "(`benchmarks/statement_profile.py` on its log):",
            "",
            "| s | statement |",
            "| ---: | --- |",
            *profile_rows(run),
            "",
        ]
    lines += [explanation(r), ""]
    lines += [
        "## Checks",
        "",
        f"- the 1% run: "
        f"{json.dumps({t: {'changed': c[0], 'added': c[1]} for t, c in r['changed'].items()})}; "
        f"it wrote {one['written']:,} rows.",
        (
            f"- every checksum is sha256(data); the raw floor and the project migrate the same "
            f"keys; {r['sampled']} sampled documents (after the 1% run) and "
            f"{sum(run['sampled'] for run in scale)} in the scale runs equal the JavaScript "
            "oracle's; every backend row with a user was migrated at each scale."
            if not r["problems"]
            else "- **problems:** " + "; ".join(r["problems"])
        ),
        "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # benchmarks/d1_round_trip.py writes its own section; it is kept as it is
    d1_section = ""
    if out.exists() and D1_SECTION in out.read_text():
        old = out.read_text()
        d1_section = old[old.index(D1_SECTION) :]
    out.write_text("\n".join(lines) + "\n" + d1_section)


if __name__ == "__main__":
    main()
