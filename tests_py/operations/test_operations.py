"""Operations (issue 4): dry run, migration_runs, summary, rollback, weekly job."""

import csv
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from conftest import (
    PROJECT_DIR,
    copy_project,
    dbt_env,
    fetch_sync_data,
    insert_rows,
    run_dbt,
    table_digest,
)
from contract_rows import GOALS, LOGBOOK, QUOTED_USER, SESSIONS, load_fixture

T0 = 1717200000000


def file_digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def invocation_id(db):
    results = json.loads((PROJECT_DIR / "target" / "run_results.json").read_text())
    return results["metadata"]["invocation_id"]


def history(db, where="1 = 1"):
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [
            dict(r) for r in conn.execute(f"select * from migration_runs where {where} order by id")
        ]


def make_pending_changes(db):
    """Per entity type after a first run: new rows, changed rows, rejected rows.
    logbook: 2 new, 1 changed, 1 rejected (2 unchanged)
    goal: 1 new, 2 changed, 2 rejected (1 unchanged)
    practice_session: 0 new, 0 changed, 1 rejected (5 unchanged)"""
    insert_rows(
        db,
        "logbook_entries",
        [
            dict(LOGBOOK[0], id="le_n1"),
            dict(LOGBOOK[0], id="le_n2"),
            dict(LOGBOOK[0], id="le_r1", pieces="not json"),
        ],
    )
    insert_rows(
        db,
        "goals",
        [
            dict(GOALS[0], id="g_n1"),
            dict(GOALS[0], id="g_r1", created_at="yesterday"),
            dict(GOALS[0], id="g_r2", user_id="u_nobody"),
        ],
    )
    insert_rows(
        db, "practice_sessions", [dict(SESSIONS[0], id="ps_r1", started_at="2024-02-30 10:00:00")]
    )
    with sqlite3.connect(db) as conn:
        conn.execute("update logbook_entries set duration = 99 where id = 'le_a'")
        conn.execute("update goals set title = 'New title' where id in ('g_a', 'g_b')")


EXPECTED_COUNTS = {
    # entity_type: (processed, inserted, updated, skipped, errors, last id)
    "logbook_entry": (6, 2, 1, 2, 1, "le_r1"),
    "goal": (6, 1, 2, 1, 2, "g_r2"),
    "practice_session": (6, 0, 0, 5, 1, "ps_r1"),
}


def test_dry_run_writes_nothing_and_tells_the_plan(fixture_run, tmp_path):
    db = fixture_run  # load_fixture, then dbt run
    make_pending_changes(db)
    before = file_digest(db)
    csv_path = tmp_path / "plan.csv"
    proc = run_dbt(db, "run", "--vars", json.dumps({"dry_run": True, "dry_run_csv": str(csv_path)}))
    assert file_digest(db) == before
    out = proc.stdout
    assert "dry run goal: would insert=1 update=2 leave unchanged=1 reject=2" in out
    assert "dry run logbook_entry: would insert=2 update=1 leave unchanged=2 reject=1" in out
    assert "dry run practice_session: would insert=0 update=0 leave unchanged=5 reject=1" in out
    assert "  update (2): g_a, g_b" in out
    assert "  insert (2): le_n1, le_n2" in out
    assert "  rejected (2): g_r1, g_r2" in out
    with open(csv_path) as f:
        plan = list(csv.DictReader(f))
    assert len(plan) == 18
    assert {(r["entity_id"], r["action"]) for r in plan if r["action"] != "unchanged"} == {
        ("le_n1", "insert"),
        ("le_n2", "insert"),
        ("le_a", "update"),
        ("le_r1", "rejected"),
        ("g_n1", "insert"),
        ("g_a", "update"),
        ("g_b", "update"),
        ("g_r1", "rejected"),
        ("g_r2", "rejected"),
        ("ps_r1", "rejected"),
    }
    assert len(history(db)) == 3  # the first, real run only


def test_dry_run_on_a_fresh_database_creates_nothing(tmp_path, template_db):
    path = tmp_path / "fresh.db"
    with sqlite3.connect(template_db) as src, sqlite3.connect(path) as dst:
        for (sql,) in src.execute(
            "select sql from sqlite_master where type = 'table' and name != 'sync_data'"
        ):
            dst.execute(sql)
    load_fixture(path)
    before = file_digest(path)
    proc = run_dbt(
        path, "run", "--vars", "{dry_run: true, user_id: u_1, entity_types: [goal, logbook_entry]}"
    )
    assert file_digest(path) == before
    assert "dry run goal: would insert=1 update=0 leave unchanged=0 reject=0" in proc.stdout
    assert (
        "dry run logbook_entry: would insert=2 update=0 leave unchanged=0 reject=0" in proc.stdout
    )
    assert "dry run practice_session" not in proc.stdout


def test_migration_runs_counts_are_exact(fixture_run):
    db = fixture_run  # load_fixture, then dbt run
    make_pending_changes(db)
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - 1))
    proc = run_dbt(db, "build", "--exclude", "test_type:unit")
    run_id = invocation_id(db)
    rows = history(db, f"run_id = '{run_id}'")
    assert len(rows) == 3
    for row in rows:
        processed, inserted, updated, skipped, errors, last_id = EXPECTED_COUNTS[row["entity_type"]]
        assert (
            row["processed_count"],
            row["inserted_count"],
            row["updated_count"],
            row["skipped_count"],
            row["error_count"],
            row["last_processed_id"],
        ) == (processed, inserted, updated, skipped, errors, last_id)
        assert row["status"] == "success"
        assert row["id"] == f"{run_id}:{row['entity_type']}"
        assert row["target_name"] == "dev"
        assert row["user_id_filter"] is None
        assert row["entity_types_filter"] == "logbook_entry,goal,practice_session"
        assert started <= row["started_at"] <= row["completed_at"]
        assert row["error_message"] is None
        # the console line carries the same numbers
        assert (
            f"migration {row['entity_type']}: success processed={processed} inserted={inserted} "
            f"updated={updated} unchanged={skipped} rejected={errors}"
        ) in proc.stdout


def test_filtered_run_records_its_filters(db):
    load_fixture(db)
    run_dbt(
        db,
        "run",
        "--vars",
        json.dumps({"user_id": QUOTED_USER, "entity_types": "practice_session"}),
    )
    rows = history(db)
    assert [
        (
            r["entity_type"],
            r["user_id_filter"],
            r["entity_types_filter"],
            r["processed_count"],
            r["inserted_count"],
        )
        for r in rows
    ] == [("practice_session", QUOTED_USER, "practice_session", 1, 1)]


def test_failed_run_is_recorded_and_leaves_sync_data_as_it_was(fixture_run):
    db = fixture_run  # load_fixture, then dbt run
    make_pending_changes(db)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "create trigger fail_insert before insert on sync_data when new.entity_id = 'le_n2' "
            "begin select raise(abort, 'injected failure'); end"
        )
    before = table_digest(db, ["sync_data"])
    proc = run_dbt(db, "run", expect_ok=False)
    assert "injected failure" in proc.stdout
    assert table_digest(db, ["sync_data"]) == before
    run_id = invocation_id(db)
    rows = history(db, f"run_id = '{run_id}'")
    assert [r["entity_type"] for r in rows] == ["goal", "logbook_entry", "practice_session"]
    for row in rows:
        assert row["status"] == "failed"
        assert "injected failure" in row["error_message"]
        assert row["inserted_count"] == row["updated_count"] == 0
    assert "migration goal: failed" in proc.stdout


def test_failing_unit_test_stops_the_merge_and_is_recorded(db, tmp_path):
    """A build whose unit test fails never merges; its runs are recorded as failed."""
    load_fixture(db)
    broken = copy_project(tmp_path / "project")
    macro = broken / "macros/contract/document_values.sql"
    macro.write_text(macro.read_text().replace("'{{ when_null }}'", "'{{ when_null }}0'"))
    proc = subprocess.run(
        [str(PROJECT_DIR / ".venv/bin/dbt"), "build"],
        cwd=broken,
        env=dbt_env(db),
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    rows = history(db)
    assert {r["status"] for r in rows} == {"failed"} and len(rows) == 3
    assert "goal_numbers" in rows[0]["error_message"]
    assert fetch_sync_data(db) == {}


def api_rows(db):
    with sqlite3.connect(db) as conn:
        conn.execute(
            "insert into sync_data (id, user_id, entity_type, entity_id, data, checksum) values "
            "('sync_api', 'u_1', 'setting', 'theme', '{}', 'x')"
        )


def counts_by_type(db):
    with sqlite3.connect(db) as conn:
        return dict(
            conn.execute("select entity_type, count(*) from sync_data group by entity_type")
        )


def rollback(db, args, expect_ok=True):
    return run_dbt(
        db, "run-operation", "rollback_sync_data", "--args", json.dumps(args), expect_ok=expect_ok
    )


def test_rollback_by_entity_type(fixture_run):
    db = fixture_run  # load_fixture, then dbt run
    api_rows(db)
    proc = rollback(db, {"entity_type": "goal", "dry_run": True})
    assert f"rollback goal in {db}: would delete 3 rows" in proc.stdout
    assert counts_by_type(db) == {
        "goal": 3,
        "logbook_entry": 3,
        "practice_session": 5,
        "setting": 1,
    }
    rollback(db, {"entity_type": "goal"})
    assert counts_by_type(db) == {"logbook_entry": 3, "practice_session": 5, "setting": 1}
    rows = history(db, "status = 'rolled_back'")
    assert [(r["entity_type"], r["deleted_count"], r["processed_count"]) for r in rows] == [
        ("goal", 3, 3)
    ]
    assert rows[0]["id"].endswith(":rollback:goal")


def test_rollback_by_user_with_a_quote(fixture_run):
    db = fixture_run  # load_fixture, then dbt run
    api_rows(db)
    rollback(db, {"user_id": QUOTED_USER})
    assert counts_by_type(db) == {
        "goal": 3,
        "logbook_entry": 3,
        "practice_session": 4,
        "setting": 1,
    }
    rows = history(db, "status = 'rolled_back'")
    assert [(r["entity_type"], r["deleted_count"], r["user_id_filter"]) for r in rows] == [
        ("goal", 0, QUOTED_USER),
        ("logbook_entry", 0, QUOTED_USER),
        ("practice_session", 1, QUOTED_USER),
    ]
    rollback(db, {"user_id": "u_1' or '1'='1"})
    assert counts_by_type(db) == {
        "goal": 3,
        "logbook_entry": 3,
        "practice_session": 4,
        "setting": 1,
    }


def test_rollback_all_needs_confirmation(fixture_run):
    db = fixture_run  # load_fixture, then dbt run
    api_rows(db)
    proc = rollback(db, {"all": True}, expect_ok=False)
    assert "needs confirm: true" in proc.stdout
    proc = rollback(db, {"all": True, "dry_run": True})
    assert f"rollback logbook_entry in {db}: would delete 3 rows" in proc.stdout
    assert counts_by_type(db) == {
        "goal": 3,
        "logbook_entry": 3,
        "practice_session": 5,
        "setting": 1,
    }
    rollback(db, {"all": True, "confirm": True})
    assert counts_by_type(db) == {"setting": 1}
    assert sum(r["deleted_count"] for r in history(db, "status = 'rolled_back'")) == 11
    proc = rollback(db, {"entity_type": "settings"}, expect_ok=False)
    assert "unknown entity type 'settings'" in proc.stdout


def operations_sql(title):
    text = (PROJECT_DIR / "docs" / "operations.md").read_text()
    match = re.search(r"```sql\n(-- " + re.escape(title) + r"\n.*?)```", text, re.S)
    assert match, title
    return match.group(1)


def test_documented_history_queries(fixture_run):
    db = fixture_run  # load_fixture, then dbt run
    with sqlite3.connect(db) as conn:
        conn.execute("update goals set title = 'x' where id = 'g_a'")
    run_dbt(db, "run", "--vars", "{entity_types: [goal]}")
    last_run = invocation_id(db)
    with sqlite3.connect(db) as conn:
        all_rows = conn.execute(operations_sql("run history")).fetchall()
        last = conn.execute(operations_sql("last successful run")).fetchall()
    assert len(all_rows) == 4
    assert [(r[0], r[1], r[2]) for r in last] == [(last_run, "goal", "success")]
    assert last[0][5] == 1  # updated


def weekly(db, *args, env=None):
    return subprocess.run(
        [str(PROJECT_DIR / "scripts" / "weekly_sync.sh"), *args],
        cwd=PROJECT_DIR,
        env=dbt_env(db, **(env or {})),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_weekly_job_logs_and_exit_codes(db, tmp_path):
    load_fixture(db)
    log = tmp_path / "weekly.log"
    ok = weekly(db, "prod", str(log))
    assert ok.returncode == 0, log.read_text()
    text = log.read_text()
    assert "weekly sync: target prod" in text and "finished: exit code 0" in text
    assert "migration goal: success processed=3 inserted=3" in text
    # an error-severity test fails: an API row names no user
    with sqlite3.connect(db) as conn:
        conn.execute(
            "insert into sync_data (id, user_id, entity_type, entity_id, data, checksum) "
            "values ('sync_api', 'u_nobody', 'setting', 's', '{}', 'x')"
        )
    failed = weekly(db, "prod", str(log))
    assert failed.returncode == 1
    assert log.read_text().count("finished: exit code 1") == 1
    assert weekly(db, "qa").returncode == 2


def test_weekly_job_refuses_while_locked(db, tmp_path):
    load_fixture(db)
    log = tmp_path / "weekly.log"
    holder = subprocess.Popen(["flock", f"{db}.lock", "sleep", "60"], start_new_session=True)
    try:
        for _ in range(50):
            probe = subprocess.run(["flock", "--nonblock", f"{db}.lock", "true"])
            if probe.returncode != 0:
                break
            time.sleep(0.1)
        locked = weekly(db, "prod", str(log))
        assert locked.returncode == 75
        assert "another run on" in locked.stderr and "is still going" in locked.stderr
        assert "not starting" in log.read_text()
        assert not Path(f"{db}.dbt-work").exists()
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    assert weekly(db, "prod", str(log)).returncode == 0
