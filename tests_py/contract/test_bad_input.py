"""Bad input (issue 5): every reject category recorded while its neighbours
migrate, fixes migrate, thresholds, hostile environments, killed runs, values
that stress the serialiser, and a source that is never touched."""

import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import rowgen
from conftest import (
    BACKEND_COLUMNS,
    DBT,
    PROJECT_DIR,
    dbt_env,
    fetch_sync_data,
    insert_rows,
    oracle_for_database,
    run_dbt,
    table_digest,
)

BACKEND = list(BACKEND_COLUMNS)
T0 = 1717200000000
USER = {"id": "u_1", "email": "one@example.com"}
LOGBOOK = dict(
    user_id="u_1",
    timestamp=T0,
    duration=60,
    type="PRACTICE",
    instrument="PIANO",
    created_at=T0,
    updated_at=T0,
)
GOAL = dict(user_id="u_1", title="Goal", created_at=T0, updated_at=T0)
SESSION = dict(
    user_id="u_1", instrument="PIANO", session_type="ASSESSMENT", started_at="2024-06-01 08:00:00"
)


@pytest.fixture
def relaxed_db(template_db, tmp_path):
    """Backend tables without NOT NULL, so that NULLs the contract names can be stored."""
    path = tmp_path / "relaxed.db"
    with sqlite3.connect(template_db) as src, sqlite3.connect(path) as dst:
        for (sql,) in src.execute(
            "select sql from sqlite_master where sql is not null order by rowid"
        ):
            dst.execute(
                sql.replace("not null", "").replace("NOT NULL", "")
                if "sync_data" not in sql
                else sql
            )
    insert_rows(path, "users", [USER])
    return path


def rejects(db):
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return {
            (r["entity_type"], r["entity_key"]): dict(r)
            for r in conn.execute("select * from migration_rejects")
        }


CATEGORY_CASES = [
    ("missing_id", "logbook_entries", dict(LOGBOOK, id=None), "id"),
    ("invalid_json", "logbook_entries", dict(LOGBOOK, id="bad", tags="[1,]"), "tags"),
    ("wrong_json_kind", "goals", dict(GOAL, id="bad", milestones='{"a":1}'), "milestones"),
    (
        "missing_timestamp",
        "logbook_entries",
        dict(LOGBOOK, id="bad", updated_at=None),
        "updated_at",
    ),
    (
        "timestamp_not_number",
        "goals",
        dict(GOAL, id="bad", completed_at="2024-06-01"),
        "completed_at",
    ),
    (
        "unreadable_datetime",
        "practice_sessions",
        dict(SESSION, id="bad", started_at="2024-06-31 10:00:00"),
        "started_at",
    ),
    (
        "timestamp_out_of_range",
        "logbook_entries",
        dict(LOGBOOK, id="bad", timestamp=8_640_000_000_000_001),
        "timestamp",
    ),
    (
        "unsupported_value",
        "practice_sessions",
        dict(SESSION, id="bad", notes_attempted=b"\x00\x01"),
        "notes_attempted",
    ),
    ("orphan_user", "goals", dict(GOAL, id="bad", user_id="u_9"), "user_id"),
]
NEIGHBOURS = {"logbook_entries": LOGBOOK, "goals": GOAL, "practice_sessions": SESSION}
ENTITY = {
    "logbook_entries": "logbook_entry",
    "goals": "goal",
    "practice_sessions": "practice_session",
}


@pytest.mark.parametrize(
    "category, table, row, column", CATEGORY_CASES, ids=[c[0] for c in CATEGORY_CASES]
)
def test_each_category_is_rejected_and_its_neighbour_migrates(
    relaxed_db, category, table, row, column
):
    insert_rows(relaxed_db, table, [row, dict(NEIGHBOURS[table], id="good")])
    before = table_digest(relaxed_db, BACKEND)
    proc = run_dbt(relaxed_db, "build", "--exclude", "test_type:unit")
    assert table_digest(relaxed_db, BACKEND) == before
    entity_type = ENTITY[table]
    rows = fetch_sync_data(relaxed_db)
    assert list(rows) == [(entity_type, "good")]
    assert (
        rows[(entity_type, "good")]["data"]
        == oracle_for_database(relaxed_db)[(entity_type, "good")]["data"]
    )
    (reject,) = rejects(relaxed_db).values()
    assert reject["entity_type"] == entity_type
    assert reject["reason"].startswith(f"{category}: {column}: ")
    assert reject["entity_id"] == row["id"]
    if row["id"] is None:
        assert reject["entity_key"].startswith("no-id:")
    if category == "unsupported_value":
        assert reject["value"] == "x'0001'"
    elif category == "orphan_user":
        assert (
            reject["reason"] == "orphan_user: user_id: u_9 names no user"
            and reject["value"] == "u_9"
        )
    elif row[column] is not None:
        assert reject["value"] == str(row[column])
    assert "WARN 1 rejected_rows" in proc.stdout
    assert (
        f"migration {entity_type}: success processed=2 inserted=1 updated=0 unchanged=0 rejected=1"
        in proc.stdout
    )


def test_reject_reasons_read_as_the_issue_writes_them(relaxed_db):
    insert_rows(
        relaxed_db,
        "logbook_entries",
        [
            dict(LOGBOOK, id="a", pieces="nope"),
            dict(LOGBOOK, id="b", timestamp=8_640_000_000_000_001),
            dict(LOGBOOK, id="c", user_id="u_9"),
        ],
    )
    run_dbt(relaxed_db, "run")
    assert {key[1]: r["reason"] for key, r in rejects(relaxed_db).items()} == {
        "a": "invalid_json: pieces: not valid JSON",
        "b": "timestamp_out_of_range: timestamp: 8640000000000001 is outside the range of a JavaScript Date",
        "c": "orphan_user: user_id: u_9 names no user",
    }


def test_fixed_row_migrates_and_leaves_the_rejects(relaxed_db):
    insert_rows(
        relaxed_db,
        "goals",
        [dict(GOAL, id="g1", milestones="[oops"), dict(GOAL, id="g2", linked_entries="{}")],
    )
    run_dbt(relaxed_db, "run")
    first = rejects(relaxed_db)
    assert set(first) == {("goal", "g1"), ("goal", "g2")}
    time.sleep(1.1)
    with sqlite3.connect(relaxed_db) as conn:
        conn.execute("update goals set milestones = '[]' where id = 'g1'")
    proc = run_dbt(relaxed_db, "run")
    second = rejects(relaxed_db)
    assert set(second) == {("goal", "g2")}
    assert second[("goal", "g2")]["first_seen_at"] == first[("goal", "g2")]["first_seen_at"]
    assert second[("goal", "g2")]["last_seen_at"] > first[("goal", "g2")]["last_seen_at"]
    assert list(fetch_sync_data(relaxed_db)) == [("goal", "g1")]
    assert (
        "migration goal: success processed=2 inserted=1 updated=0 unchanged=0 rejected=1"
        in proc.stdout
    )


def test_a_filtered_run_keeps_rejects_outside_its_scope(relaxed_db):
    insert_rows(relaxed_db, "users", [{"id": "u_2", "email": "two@example.com"}])
    insert_rows(
        relaxed_db,
        "goals",
        [
            dict(GOAL, id="g1", milestones="[oops"),
            dict(GOAL, id="g2", user_id="u_2", milestones="[oops"),
        ],
    )
    run_dbt(relaxed_db, "run")
    with sqlite3.connect(relaxed_db) as conn:
        conn.execute("update goals set milestones = '[]'")
    run_dbt(relaxed_db, "run", "--vars", "{user_id: u_2}")
    assert set(rejects(relaxed_db)) == {("goal", "g1")}


@pytest.mark.parametrize("threshold, fails", [(1, True), (2, False), (0.3, True), (0.5, False)])
def test_reject_threshold(relaxed_db, threshold, fails):
    insert_rows(
        relaxed_db,
        "goals",
        [
            dict(GOAL, id="g1"),
            dict(GOAL, id="g2"),
            dict(GOAL, id="g3", milestones="[x"),
            dict(GOAL, id="g4", user_id="u_9"),
        ],
    )
    before = table_digest(relaxed_db, ["sync_data"])
    proc = run_dbt(
        relaxed_db,
        "run",
        "--vars",
        json.dumps({"reject_threshold": threshold}),
        expect_ok=not fails,
    )
    if fails:
        assert (
            f"2 of 4 rows are rejected, above the reject_threshold of {threshold}; nothing was merged."
            in proc.stdout
        )
        assert "invalid_json (1 goal), orphan_user (1 goal)" in proc.stdout
        assert table_digest(relaxed_db, ["sync_data"]) == before
    else:
        assert len(fetch_sync_data(relaxed_db)) == 2


def test_missing_database_file_is_a_clear_error(tmp_path):
    path = tmp_path / "nowhere" / "prod.db"
    path.parent.mkdir()
    # the launcher refuses before SQLite's connect could create the file
    proc = run_dbt(path, "build", "--target", "prod", expect_ok=False)
    assert "does not exist" in proc.stderr and "Check SYNC_DB_PATH" in proc.stderr
    assert not path.exists()
    # an empty file (what SQLite's connect leaves) is stopped by the preflight
    path.touch()
    proc = run_dbt(path, "build", "--target", "prod", expect_ok=False)
    assert "does not exist or is empty" in proc.stdout and "Check SYNC_DB_PATH" in proc.stdout
    with sqlite3.connect(path) as conn:
        assert conn.execute("select count(*) from sqlite_master").fetchone() == (0,)
    # the weekly job and the Makefile check first and create nothing
    missing = tmp_path / "absent.db"
    job = subprocess.run(
        [str(PROJECT_DIR / "scripts/weekly_sync.sh"), "prod", str(tmp_path / "w.log")],
        cwd=PROJECT_DIR,
        env=dbt_env(missing),
        capture_output=True,
        text=True,
    )
    assert job.returncode == 2 and "does not exist or is empty" in job.stderr
    make = subprocess.run(
        ["make", "-s", "migrate", "TARGET=prod"],
        cwd=PROJECT_DIR,
        env=dbt_env(missing),
        capture_output=True,
        text=True,
    )
    assert make.returncode != 0 and "does not exist or is empty" in make.stderr
    assert not missing.exists()


def test_missing_table_and_column_are_named(db):
    insert_rows(db, "users", [USER])
    with sqlite3.connect(db) as conn:
        conn.execute("alter table logbook_entries drop column mood")
        conn.execute("drop table goals")
    before = table_digest(db, ["sync_data"])
    proc = run_dbt(db, "run", "--target", "prod", expect_ok=False)
    assert "the backend table goals is missing" in proc.stdout
    assert "the backend table logbook_entries lacks column(s) mood" in proc.stdout
    assert table_digest(db, ["sync_data"]) == before


def test_locked_database_waits_then_fails_clearly(db):
    insert_rows(db, "users", [USER])
    insert_rows(db, "goals", [dict(GOAL, id="g1")])
    # another writer holds the write lock (RESERVED): readers go on, writers wait
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("begin immediate")
    holder.execute("insert into users (id, email) values ('u_other', 'other@example.com')")
    try:
        started = time.monotonic()
        proc = run_dbt(db, "run", "--vars", "{busy_timeout_ms: 1500}", expect_ok=False)
        assert time.monotonic() - started > 1.5
    finally:
        holder.execute("rollback")
        holder.close()
    assert "database is locked" in proc.stdout
    assert "locked by another writer" in proc.stdout and "busy_timeout_ms" in proc.stdout
    assert "could not be recorded in migration_runs: the database is locked" in proc.stdout
    assert fetch_sync_data(db) == {}
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from users").fetchone() == (1,)


def test_killed_run_leaves_old_or_new_state_and_next_run_converges(db):
    rng = random.Random(3)
    users = [f"u_{i}" for i in range(20)]
    insert_rows(db, "users", [{"id": u, "email": f"{u}@example.com"} for u in users])
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "insert into goals (id, user_id, title, progress, created_at, updated_at) values (?, ?, ?, ?, ?, ?)",
            [
                (f"g{i}", rng.choice(users), f"Goal {i}", rng.random() * 100, T0, T0)
                for i in range(60000)
            ],
        )
    run_dbt(db, "run")
    old = table_digest(db, ["sync_data"])
    with sqlite3.connect(db) as conn:
        conn.execute("update goals set title = title || ' (renamed)'")
    backend = table_digest(db, BACKEND)
    journal = Path(f"{db}-journal")
    killed = False
    for _ in range(3):
        proc = subprocess.Popen(
            [str(DBT), "run"],
            cwd=PROJECT_DIR,
            env=dbt_env(db),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not journal.exists():
            time.sleep(0.005)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
        proc.wait()
        if killed:
            break
    assert killed, "dbt finished before it could be killed during the write"
    with sqlite3.connect(db) as conn:  # opening rolls a hot journal back
        conn.execute("select count(*) from sync_data").fetchone()
    assert table_digest(db, ["sync_data"]) == old
    assert table_digest(db, BACKEND) == backend
    run_dbt(db, "run")
    rows = fetch_sync_data(db)
    assert len(rows) == 60000
    assert all(r["version"] == 2 and r["data"].count("(renamed)") == 1 for r in rows.values())
    assert table_digest(db, BACKEND) == backend


def test_values_that_stress_the_serialiser(db):
    insert_rows(db, "users", [USER])
    every_control = "".join(chr(c) for c in range(32)) + "\x7f"
    notes = ("x" * 1024 + 'é🎹"\\') * 1000  # about 1 MB
    insert_rows(
        db,
        "logbook_entries",
        [
            dict(LOGBOOK, id="big", notes=notes),
            dict(LOGBOOK, id="controls", notes=every_control, mood='"quoted" \\ back\\slash'),
            dict(
                LOGBOOK,
                id="astral",
                notes="𝄞 🎹 👍🏽 \U0010ffff",
                pieces='["\\ud834\\udd1e", "\\ud800", "lone \\udfff low", "\\u0000\\u001f"]',
            ),
            dict(
                LOGBOOK,
                id="numbers",
                duration=0.1 + 0.2,
                metadata='{"a": 1e21, "b": -0, "c": 0.1, "d": 1e-7, "e": 123456789012345678901234567890, "f": 5e-324}',
            ),
        ],
    )
    insert_rows(
        db,
        "goals",
        [
            dict(GOAL, id="big_real", progress=1e21),
            dict(GOAL, id="neg_zero", progress=-0.0),
            dict(GOAL, id="sum", progress=0.1 + 0.2),
            dict(GOAL, id="tiny", progress=5e-324),
        ],
    )
    run_dbt(db, "run")
    expected = oracle_for_database(db)
    rows = fetch_sync_data(db)
    assert len(rows) == 8
    for key, verdict in expected.items():
        assert rows[key]["data"] == verdict["data"], key
        assert rows[key]["checksum"] == hashlib.sha256(verdict["data"].encode()).hexdigest()
    assert len(rows[("logbook_entry", "big")]["data"]) > 1_000_000
    assert '"progress":1e+21' in rows[("goal", "big_real")]["data"]
    assert '"progress":0,' in rows[("goal", "neg_zero")]["data"]
    assert '"progress":0.30000000000000004' in rows[("goal", "sum")]["data"]
    assert (
        '"\\ud800","lone \\udfff low","\\u0000\\u001f"' in rows[("logbook_entry", "astral")]["data"]
    )


def test_five_percent_broken_migrates_the_rest_and_lists_every_broken_row(relaxed_db):
    rng = random.Random(11)
    users = ["u_1", "u_2", "u_3"]
    insert_rows(relaxed_db, "users", [{"id": u, "email": f"{u}@x"} for u in users[1:]])
    breakers = [
        ("logbook_entries", lambda r: r.update(pieces="[{")),
        ("logbook_entries", lambda r: r.update(user_id="u_gone")),
        ("logbook_entries", lambda r: r.update(created_at="soon")),
        ("goals", lambda r: r.update(milestones='"x"')),
        ("goals", lambda r: r.update(target_date=-9e15)),
        ("practice_sessions", lambda r: r.update(started_at="2023-02-29 00:00:00")),
        ("practice_sessions", lambda r: r.update(accuracy_percentage=b"\x01")),
    ]
    tables = {
        "logbook_entries": [rowgen.logbook_entry(rng, i, users) for i in range(700)],
        "goals": [rowgen.goal(rng, i, users) for i in range(700)],
        "practice_sessions": [rowgen.practice_session(rng, i, users) for i in range(700)],
    }
    broken = set()
    for i in range(105):  # 5% of 2100
        table, breaker = breakers[i % len(breakers)]
        row = tables[table][i * 6 % 700]
        breaker(row)
        broken.add((ENTITY[table], row["id"]))
    for table, rows in tables.items():
        insert_rows(relaxed_db, table, rows)
    run_dbt(relaxed_db, "run")
    expected = oracle_for_database(relaxed_db)
    rejected_by_oracle = {key for key, v in expected.items() if "reject" in v}
    assert broken <= rejected_by_oracle
    assert set(rejects(relaxed_db)) == rejected_by_oracle
    rows = fetch_sync_data(relaxed_db)
    migrated = {key: v["data"] for key, v in expected.items() if "data" in v}
    assert {key: r["data"] for key, r in rows.items()} == migrated
    assert len(migrated) + len(rejected_by_oracle) == 2100


def test_source_is_never_touched_by_any_kind_of_run(relaxed_db):
    insert_rows(relaxed_db, "goals", [dict(GOAL, id="g1"), dict(GOAL, id="g2", milestones="[")])
    before = table_digest(relaxed_db, BACKEND)
    run_dbt(relaxed_db, "build", "--exclude", "test_type:unit")
    run_dbt(relaxed_db, "run", "--vars", "{user_id: u_1, entity_types: [goal]}")
    run_dbt(relaxed_db, "run", "--vars", "{dry_run: true}")
    run_dbt(relaxed_db, "run", "--vars", "{reject_threshold: 0}", expect_ok=False)
    run_dbt(
        relaxed_db, "run-operation", "rollback_sync_data", "--args", "{all: true, confirm: true}"
    )
    assert table_digest(relaxed_db, BACKEND) == before


# --- errors that name the file, table or var and say what to do -------------


def file_digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_dbt_as_a_plain_user(db_path, *args):
    """dbt for whom file permissions count: as root, without CAP_DAC_OVERRIDE."""
    prefix = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: a chmod would not stop dbt")
        prefix = [setpriv, "--bounding-set", "-dac_override", "--"]
    return subprocess.run(
        [*prefix, str(DBT), *args],
        cwd=PROJECT_DIR,
        env=dbt_env(db_path),
        capture_output=True,
        text=True,
        timeout=600,
    )


def failed_history(db):
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "select entity_type, error_message from migration_runs"
            " where status = 'failed' order by entity_type"
        ).fetchall()


@pytest.mark.parametrize("read_only", ["file", "folder"])
def test_read_only_database_is_named_and_left_as_it_was(db, read_only):
    insert_rows(db, "users", [USER])
    insert_rows(db, "goals", [dict(GOAL, id="g1")])
    run_dbt(db, "run", "--target", "prod")
    insert_rows(db, "goals", [dict(GOAL, id="g2")])
    before = file_digest(db)
    history_before = table_digest(db, ["sync_data", "migration_runs"])
    # the file itself, or its folder, where SQLite must create its journal
    locked = db if read_only == "file" else db.parent
    mode = locked.stat().st_mode
    locked.chmod(0o444 if read_only == "file" else 0o555)
    try:
        proc = run_dbt_as_a_plain_user(db, "run", "--target", "prod")
    finally:
        locked.chmod(mode)
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "keyboard interrupt" not in out
    # the file that could not be written: the database, or the work file
    # whose journal could not be created in the read-only folder
    named = f"database {db}" if read_only == "file" else f"work file {db}.dbt-work"
    assert (
        f"The prod {named} could not be written (attempt to write a readonly database): "
        "it is read-only for this user. Check the permissions of the file and of its folder "
        "(SQLite writes a journal next to the file, so both must be writable), or run as the "
        "user who owns them. This run stopped before merging: sync_data is as it was before it."
    ) in out
    assert (
        "The failed run could not be recorded in migration_runs: the database could not be "
        "written (attempt to write a readonly database)."
    ) in out
    assert file_digest(db) == before
    assert table_digest(db, ["sync_data", "migration_runs"]) == history_before


OLD_MIGRATION_RUNS = """
create table migration_runs (
    id TEXT PRIMARY KEY, entity_type TEXT NOT NULL, last_processed_id TEXT,
    processed_count INTEGER, error_count INTEGER,
    started_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, completed_at TIMESTAMP
)"""


def test_old_scripts_migration_runs_is_upgraded_in_place_and_keeps_its_history(db):
    insert_rows(db, "users", [USER])
    insert_rows(db, "goals", [dict(GOAL, id="g1")])
    with sqlite3.connect(db) as conn:
        conn.execute("drop table if exists migration_runs")
        conn.execute(OLD_MIGRATION_RUNS)
        conn.execute(
            "insert into migration_runs (id, entity_type, processed_count, started_at,"
            " completed_at) values ('r1', 'goal', 5, '2024-01-01 10:00:00', '2024-01-01 10:00:05')"
        )
    before = file_digest(db)
    # a dry run, or a run that does not merge, changes nothing
    run_dbt(db, "run", "--target", "prod", "--vars", "{dry_run: true}")
    assert file_digest(db) == before
    run_dbt(db, "run", "--target", "prod", "--select", "intermediate")
    assert file_digest(db) == before
    # before any run the migration owns nothing: a rollback has nothing to do
    rollback = (
        "run-operation",
        "rollback_sync_data",
        "--target",
        "prod",
        "--args",
        "{all: true, confirm: true}",
    )
    proc = run_dbt(db, *rollback)
    assert "the migration owns no sync_data row there; nothing to remove." in proc.stdout
    assert file_digest(db) == before
    proc = run_dbt(db, "run", "--target", "prod")
    assert "Upgraded migration_runs in place in the prod database" in proc.stdout
    assert "migration goal: success processed=1 inserted=1" in proc.stdout
    run_dbt(db, *rollback)
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = [
            dict(r)
            for r in conn.execute(
                "select id, entity_type, processed_count, completed_at, run_id, status,"
                " target_name from migration_runs order by rowid"
            )
        ]
    assert rows[0] == {
        "id": "r1",
        "entity_type": "goal",
        "processed_count": 5,
        "completed_at": "2024-01-01 10:00:05",
        "run_id": "r1",
        "status": "success",
        "target_name": "old script",
    }
    assert [(r["entity_type"], r["status"]) for r in rows[1:] if r["entity_type"] == "goal"] == [
        ("goal", "success"),
        ("goal", "rolled_back"),
    ]


@pytest.mark.parametrize("corrupt", ["random_database", "text_database", "random_work_file"])
def test_file_that_is_not_a_database_is_named_and_left_as_it_was(db, tmp_path, corrupt):
    work = Path(f"{db}.dbt-work")
    if corrupt == "random_work_file":
        run_dbt(db, "run", "--target", "prod")
        work.write_bytes(random.Random(5).randbytes(4096))
        bad = work
    else:
        bad = db
        if corrupt == "random_database":
            db.write_bytes(random.Random(5).randbytes(4096))
        else:
            db.write_text("id,email\nu_1,one@example.com\n")
    digests = {p: file_digest(p) for p in (db, work) if p.exists()}
    if bad == db:
        expected = (
            f"The prod database {db} is not a SQLite database (file is not a database): "
            "SYNC_DB_PATH names a file that is not the backend's database, or the file is "
            "damaged. Check SYNC_DB_PATH, and if it is right restore the database from a "
            "backup. Nothing was run and no file was changed."
        )
    else:
        expected = (
            f"The work file {work} of the prod database {db} is not a SQLite database "
            "(file is not a database). It holds only dbt's working tables: delete it (the next "
            "run rebuilds it) or check SYNC_WORK_DB_PATH. Nothing was run and no file was "
            "changed."
        )
    job = subprocess.run(
        [str(PROJECT_DIR / "scripts/weekly_sync.sh"), "prod", str(tmp_path / "w.log")],
        cwd=PROJECT_DIR,
        env=dbt_env(db),
        capture_output=True,
        text=True,
    )
    assert job.returncode == 2 and expected in job.stderr, job.stderr
    make = subprocess.run(
        ["make", "-s", "check-db", "TARGET=prod"],
        cwd=PROJECT_DIR,
        env=dbt_env(db),
        capture_output=True,
        text=True,
    )
    assert make.returncode != 0 and expected in make.stderr, make.stderr
    # plain dbt too: the launcher names the file before dbt-sqlite's connect
    plain = run_dbt(db, "build", "--target", "prod", expect_ok=False)
    assert plain.returncode == 2 and expected in plain.stderr, plain.stderr
    assert "Unable to parse logging event" not in plain.stdout + plain.stderr
    assert {p: file_digest(p) for p in (db, work) if p.exists()} == digests


def test_failed_run_records_one_plain_line(db, project_copy):
    insert_rows(db, "users", [USER])
    insert_rows(db, "goals", [dict(GOAL, id="g1")])
    # a SQL error: sync_data's merge fails
    with sqlite3.connect(db) as conn:
        conn.execute(
            "create trigger fail_insert before insert on sync_data "
            "begin select raise(abort, 'injected failure'); end"
        )
    proc = run_dbt(db, "run", expect_ok=False)
    assert "\x1b[" not in proc.stdout  # DBT_USE_COLORS=False: the log is plain too
    assert failed_history(db) == [
        (entity_type, "model sync_data: Database Error: injected failure")
        for entity_type in ["goal", "logbook_entry", "practice_session"]
    ]
    assert "migration goal: failed processed=0" in proc.stdout
    assert "error=model sync_data: Database Error: injected failure\n" in proc.stdout
    with sqlite3.connect(db) as conn:
        conn.execute("drop trigger fail_insert")
        conn.execute("delete from migration_runs")
    # failing unit tests, whose messages are coloured multi-line diffs
    macro = project_copy / "macros/contract/document_values.sql"
    macro.write_text(macro.read_text().replace("'{{ when_null }}'", "'{{ when_null }}0'"))
    proc = run_dbt(db, "build", expect_ok=False, project_dir=project_copy)
    assert "differs from" in proc.stdout  # the full diff stays in dbt's output
    (message,) = {m for _, m in failed_history(db)}
    parts = message.split("; ")
    assert "unit test goal_numbers: actual differs from expected" in parts
    assert all(re.fullmatch(r"unit test \w+: actual differs from expected", p) for p in parts)
    # a long message is cut to one line of at most 500 characters
    with sqlite3.connect(db) as conn:
        conn.execute("delete from migration_runs")
        conn.execute(
            "create trigger fail_insert before insert on sync_data "
            f"begin select raise(abort, '{'very long reason, ' * 60}'); end"
        )
    run_dbt(db, "run", expect_ok=False)
    (message,) = {m for _, m in failed_history(db)}
    assert len(message) == 500 and message.endswith("...")
    assert message.startswith("model sync_data: Database Error: very long reason, very long")
