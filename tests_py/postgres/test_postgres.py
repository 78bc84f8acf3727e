"""The same project on PostgreSQL (issue 8): byte-identical documents and
checksums for the same source rows, and the operations (re-run, change
detection, dry run, history, rejects, rollback, verification) on a server.
"""

import hashlib
import json
import random
import re
import sqlite3
import subprocess
import time

import contract_rows as contract
import psycopg2
import pytest
from conftest import (
    ENTITY_TABLES,
    PROJECT_DIR,
    dbt_env,
    fetch_sync_data,
    insert_rows,
    oracle_for_database,
    run_dbt,
)
from json_texts import INVALID, javascript_answers, random_texts
from pg import PostgresSchema, mirror_backend, server_settings


@pytest.fixture
def pg(tmp_path):
    schema = PostgresSchema(tmp_path)
    yield schema
    schema.close()


def load_contract_fixture(db):
    insert_rows(db, "users", contract.USERS)
    insert_rows(db, "logbook_entries", contract.LOGBOOK)
    insert_rows(db, "goals", contract.GOALS)
    insert_rows(db, "practice_sessions", contract.SESSIONS)


def both_engines(db, pg):
    """Run the project on the SQLite database and its PostgreSQL copy; return
    ({key: row} of SQLite, of PostgreSQL, the keys PostgreSQL cannot hold),
    after checking that both reject the same rows for the same rule."""
    left_out = mirror_backend(db, pg)
    run_dbt(db, "run")
    pg.dbt("run")
    entity_of = {v: k for k, v in ENTITY_TABLES.items()}
    skipped = {(entity_of[table], key) for table, key in left_out if table in entity_of}
    with sqlite3.connect(db) as conn:
        on_sqlite = conn.execute("select entity_type, entity_key, reason from migration_rejects")
        sqlite_rejects = {
            (t, k): rule(reason) for t, k, reason in on_sqlite if (t, k) not in skipped
        }
    pg_rejects = {
        (r["entity_type"], r["entity_key"]): rule(r["reason"])
        for r in pg.query(f"select * from {pg.schema}.migration_rejects")
    }
    assert pg_rejects == sqlite_rejects
    return fetch_sync_data(db), pg.sync_data(), skipped


def rule(reason):
    """'<category>: <column>' of a reject reason (its detail quotes the value,
    whose text may differ: 1.5e+15 on SQLite is 1500000000000000 in numeric)."""
    return ": ".join(reason.split(": ")[:2])


def assert_identical(sqlite_rows, pg_rows, skipped):
    expected = {k: v for k, v in sqlite_rows.items() if k not in skipped}
    assert set(pg_rows) == set(expected)
    differences = [
        (key, expected[key]["data"], pg_rows[key]["data"])
        for key in expected
        if (expected[key]["data"], expected[key]["checksum"], expected[key]["version"])
        != (pg_rows[key]["data"], pg_rows[key]["checksum"], pg_rows[key]["version"])
    ]
    assert differences == []
    for row in pg_rows.values():
        assert row["checksum"] == hashlib.sha256(row["data"].encode()).hexdigest()


def test_contract_fixture_is_byte_identical_on_both_engines(db, pg):
    load_contract_fixture(db)
    sqlite_rows, pg_rows, skipped = both_engines(db, pg)
    # the rows a typed column cannot hold: text in logbook_entries.duration
    assert skipped == {("logbook_entry", "le_b")}
    assert_identical(sqlite_rows, pg_rows, skipped)
    # the number-formatting and unicode cases, spelled out
    for key, data in contract.EXPECTED_DATA.items():
        assert pg_rows[key]["data"] == data
    le_c = json.loads(pg_rows[("logbook_entry", "le_c")]["data"])
    assert pg_rows[("logbook_entry", "le_c")]["data"].count('"tempo":96,') == 1
    assert le_c["techniques"] == ["legato", "\U0001f3b9"]
    assert (
        '"metadata":{"0":"zero","1":"one","b":2,"a":{"k":[1.5,2.5,1e+21,1e-7,0.1]}}'
        in (pg_rows[("logbook_entry", "le_c")]["data"])
    )
    goal = json.loads(pg_rows[("goal", "g_a")]["data"])
    assert pg_rows[("goal", "g_a")]["data"].count('"progress":33.333333333333336,') == 1
    assert goal["progress"] == 100 / 3
    assert (len(sqlite_rows), len(pg_rows)) == (11, 10)


@pytest.mark.parametrize("seed", [11, 12])
def test_random_rows_are_byte_identical_on_both_engines(db, pg, seed):
    contract.load_random_rows(db, seed, 120)
    sqlite_rows, pg_rows, skipped = both_engines(db, pg)
    # rowgen puts a NUL character in about one text in ten, and text such as
    # '90 min' in logbook durations: those rows stay SQLite-only
    assert len(pg_rows) > 150
    assert len(skipped) < len(sqlite_rows) / 2
    assert_identical(sqlite_rows, pg_rows, skipped)
    # and both are what JavaScript gives
    expected = oracle_for_database(db)
    wrong = [k for k, row in pg_rows.items() if expected[k].get("data") != row["data"]]
    assert wrong == []


def runs(pg):
    return {
        r["entity_type"]: (
            r["status"],
            r["processed_count"],
            r["inserted_count"],
            r["updated_count"],
            r["skipped_count"],
            r["error_count"],
        )
        for r in pg.query(
            f"select * from {pg.schema}.migration_runs"
            " where started_at = (select max(started_at) from "
            f"{pg.schema}.migration_runs) and status != 'rolled_back'"
        )
    }


def test_rerun_change_detection_and_history_on_postgres(db, pg):
    load_contract_fixture(db)
    mirror_backend(db, pg)
    pg.dbt("build")
    first = pg.sync_data()
    assert {v["version"] for v in first.values()} == {1}
    history = pg.query(f"select * from {pg.schema}.migration_runs order by entity_type")
    assert [(h["entity_type"], h["inserted_count"], h["error_count"]) for h in history] == [
        ("goal", 3, 0),
        ("logbook_entry", 2, 0),
        ("practice_session", 5, 0),
    ]
    # a second run writes nothing
    pg.dbt("run")
    assert pg.sync_data() == first
    # one changed row: exactly that row moves, to version 2
    pg.execute(f"update {pg.schema}.goals set title = 'Two thirds' where id = 'g_a'")
    pg.dbt("run")
    after = pg.sync_data()
    moved = {k for k in after if after[k] != first[k]}
    assert moved == {("goal", "g_a")}
    assert after[("goal", "g_a")]["version"] == 2
    assert json.loads(after[("goal", "g_a")]["data"])["title"] == "Two thirds"
    assert after[("goal", "g_a")]["id"] == first[("goal", "g_a")]["id"]
    # the run report reads the schema's history and the last run's diff
    out = pg.tmp_path / "report.html"
    before = pg.sync_data()
    proc = subprocess.run(
        ["make", "report", "TARGET=postgres", f"REPORT={out}"],
        cwd=PROJECT_DIR,
        env=dbt_env(pg.tmp_path / "pg-placeholder.db", **pg.settings()),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = out.read_text()
    assert len(re.findall(r"<tr><td><code>[0-9a-f-]{36}</code>", page)) == 3
    assert f"PostgreSQL schema {pg.schema}" in page
    assert (
        "<code>g_a</code> title: <code>&#34;Third&#34;</code> → <code>&#34;Two thirds&#34;</code>"
        in page
    )
    assert pg.sync_data() == before


def test_dry_run_and_rollback_on_postgres(db, pg):
    load_contract_fixture(db)
    mirror_backend(db, pg)
    csv_path = pg.tmp_path / "plan.csv"
    out = pg.dbt(
        "run", "--vars", json.dumps({"dry_run": True, "dry_run_csv": str(csv_path)})
    ).stdout
    assert "dry run goal: would insert=3 update=0 leave unchanged=0 reject=0" in out
    assert "dry run logbook_entry: would insert=2 update=0 leave unchanged=0 reject=0" in out
    assert "dry run practice_session: would insert=5 update=0 leave unchanged=0 reject=0" in out
    assert pg.sync_data() == {}
    assert pg.query(
        "select count(*) as n from information_schema.tables"
        " where table_schema = %s and table_name = 'migration_runs'",
        (pg.schema,),
    ) == [{"n": 0}]
    pg.dbt("run")
    assert len(pg.sync_data()) == 10
    pg.dbt("run-operation", "rollback_sync_data", "--args", "{entity_types: goal, confirm: true}")
    left = pg.sync_data()
    assert {k[0] for k in left} == {"logbook_entry", "practice_session"}
    assert len(left) == 7
    rolled = pg.query(
        f"select entity_type, deleted_count from {pg.schema}.migration_runs"
        " where status = 'rolled_back'"
    )
    assert rolled == [{"entity_type": "goal", "deleted_count": 3}]


def test_bad_json_is_rejected_and_the_rest_migrates_on_postgres(db, pg):
    load_contract_fixture(db)
    mirror_backend(db, pg)
    pg.execute(f"update {pg.schema}.goals set milestones = '[{{oops' where id = 'g_a'")
    pg.dbt("run")
    rows = pg.sync_data()
    assert ("goal", "g_a") not in rows
    assert len(rows) == 9
    rejects = pg.query(
        f"select entity_type, entity_key, reason from {pg.schema}.migration_rejects"
        " order by entity_type, entity_key"
    )
    assert {
        "entity_type": "goal",
        "entity_key": "g_a",
        "reason": ("invalid_json: milestones: not valid JSON"),
    } in rejects


def test_verification_tests_catch_corruption_on_postgres(db, pg):
    load_contract_fixture(db)
    mirror_backend(db, pg)
    pg.dbt("build")
    pg.execute(
        f"update {pg.schema}.sync_data set checksum = repeat('0', 64)"
        " where entity_type = 'goal' and entity_id = 'g_a'"
    )
    out = pg.dbt("test", "--select", "sync_data", expect_ok=False).stdout
    assert "is_sha256_of_sync_data_checksum" in out
    assert "reconciles_with_source_sync_data" in out


def test_api_rows_untouched_and_full_refresh_ignored_on_postgres(db, pg):
    load_contract_fixture(db)
    mirror_backend(db, pg)
    api_rows = [
        ("sync_api_1", "u_1", "device_state", "le_a", '{"x":1}', "abc", 7),
        ("sync_api_2", "u_2", "setting", "theme", '{"dark":true}', "def", 3),
    ]
    for row in api_rows:
        pg.execute(
            f"insert into {pg.schema}.sync_data"
            " (id, user_id, entity_type, entity_id, data, checksum, version)"
            " values (%s, %s, %s, %s, %s, %s, %s)",
            row,
        )
    pg.dbt("run")
    out = pg.dbt("run", "--full-refresh").stdout
    assert "--full-refresh ignored" in out
    kept = pg.query(
        "select id, user_id, entity_type, entity_id, data, checksum, version"
        f" from {pg.schema}.sync_data where entity_type in ('device_state', 'setting')"
        " order by id"
    )
    assert [tuple(r.values()) for r in kept] == api_rows
    assert len(pg.sync_data()) == 12


def test_user_and_entity_filters_on_postgres(db, pg):
    load_contract_fixture(db)
    mirror_backend(db, pg)
    pg.dbt("run", "--vars", "{user_id: u_2}")
    assert sorted(pg.sync_data()) == [
        ("goal", "g_b"),
        ("goal", "g_c"),
        ("logbook_entry", "le_c"),
        ("practice_session", "ps_c"),
        ("practice_session", "ps_e"),
    ]
    quoted = contract.QUOTED_USER.replace("'", "''")
    out = pg.dbt("run", "--vars", "{user_id: '" + quoted + "'}").stdout
    assert "inserted=1 updated=0 unchanged=0" in out
    assert pg.sync_data()[("practice_session", "ps_d")]["user_id"] == contract.QUOTED_USER
    assert pg.query(f"select count(*) as n from {pg.schema}.users") == [{"n": 3}]
    pg.dbt("run", "--select", "tag:goal+")
    assert {k[0] for k in pg.sync_data()} == {"goal", "logbook_entry", "practice_session"}
    assert len(pg.sync_data()) == 7


def test_preflight_names_what_is_missing_on_postgres(pg):
    pg.execute(f"alter table {pg.schema}.logbook_entries drop column mood")
    pg.execute(f"drop table {pg.schema}.goals")
    pg.execute(
        f"alter table {pg.schema}.practice_sessions"
        " alter column started_at type timestamp using null"
    )
    out = pg.dbt("run", expect_ok=False).stdout
    assert "the backend table goals is missing" in out
    assert "the backend table logbook_entries lacks column(s) mood" in out
    assert (
        "the backend table practice_sessions has column(s) of a type the project does not"
        " read: started_at (timestamp without time zone)"
    ) in out
    assert pg.sync_data() == {}


def test_locked_sync_data_waits_then_fails_clearly_on_postgres(db, pg):
    load_contract_fixture(db)
    mirror_backend(db, pg)
    # another session (the API, a migration) holds sync_data exclusively
    holder = psycopg2.connect(**server_settings())
    cur = holder.cursor()
    cur.execute(f"lock table {pg.schema}.sync_data in access exclusive mode")
    try:
        started = time.monotonic()
        proc = pg.dbt("run", "--vars", "{busy_timeout_ms: 8000}", expect_ok=False)
        # longer than the timeout: it waited for the lock, then gave up
        assert time.monotonic() - started > 8
    finally:
        holder.rollback()
        holder.close()
    assert "lock timeout" in proc.stdout
    assert "locked by another writer" in proc.stdout and "busy_timeout_ms" in proc.stdout
    assert pg.sync_data() == {}
    failed = pg.query(f"select entity_type, status from {pg.schema}.migration_runs order by 1")
    assert failed == [
        {"entity_type": "goal", "status": "failed"},
        {"entity_type": "logbook_entry", "status": "failed"},
        {"entity_type": "practice_session", "status": "failed"},
    ]


def test_old_migration_runs_is_upgraded_and_failures_are_named_on_postgres(db, pg):
    load_contract_fixture(db)
    mirror_backend(db, pg)
    pg.execute(
        f"create table {pg.schema}.migration_runs (id text primary key, entity_type text not null,"
        " last_processed_id text, processed_count integer, error_count integer,"
        " started_at timestamp default current_timestamp, completed_at timestamp)"
    )
    pg.execute(
        f"insert into {pg.schema}.migration_runs (id, entity_type, processed_count, started_at)"
        " values ('r1', 'goal', 5, '2024-01-01 10:00:00')"
    )
    out = pg.dbt("run").stdout
    assert "keyboard interrupt" not in out
    assert f"Upgraded migration_runs in place in the postgres schema {pg.schema}" in out
    old = pg.query(
        f"select id, processed_count, started_at, run_id, status, target_name"
        f" from {pg.schema}.migration_runs where id = 'r1'"
    )
    # the script's timestamps are text of the same form now; a run that never
    # completed is a failed one
    assert old == [
        {
            "id": "r1",
            "processed_count": 5,
            "started_at": "2024-01-01 10:00:00",
            "run_id": "r1",
            "status": "failed",
            "target_name": "old script",
        }
    ]
    # a failed merge is recorded as one plain line
    pg.execute(
        f"create function {pg.schema}.fail_insert() returns trigger language plpgsql as"
        " $$ begin raise exception 'injected failure'; end $$"
    )
    pg.execute(
        f"create trigger fail_insert before insert on {pg.schema}.sync_data"
        f" for each row execute function {pg.schema}.fail_insert()"
    )
    pg.execute(f"update {pg.schema}.goals set title = 'changed' where id = 'g_a'")
    pg.execute(f"insert into {pg.schema}.users (id, email) values ('u_9', 'nine@example.com')")
    pg.execute(
        f"insert into {pg.schema}.goals (id, user_id, title, created_at, updated_at)"
        " values ('g_new', 'u_9', 'new', 1717200000000, 1717200000000)"
    )
    before = pg.sync_data()
    pg.dbt("run", expect_ok=False)
    assert pg.sync_data() == before
    failed = pg.query(
        f"select status, error_message from {pg.schema}.migration_runs where status = 'failed'"
        " and id != 'r1'"
    )
    assert len(failed) == 3
    assert {(r["status"], r["error_message"]) for r in failed} == {
        ("failed", "model sync_data: Database Error: injected failure")
    }


def cached(pg, table):
    """{entity_id: (xmin, source_fingerprint, data)} of a documented model: a
    row's xmin is the transaction that wrote it, so a kept row keeps it."""
    rows = pg.query(
        f"select entity_id, xmin::text as xmin, source_fingerprint, data"
        f" from {pg.schema}_work.int_{table}_documented"
    )
    return {r["entity_id"]: (r["xmin"], r["source_fingerprint"], r["data"]) for r in rows}


def test_staging_cache_rebuilds_only_changed_rows_on_postgres(db, pg):
    load_contract_fixture(db)
    mirror_backend(db, pg)
    pg.dbt("run")
    tables = ("goals", "logbook_entries", "practice_sessions")
    before = {table: cached(pg, table) for table in tables}
    pg.execute(f"update {pg.schema}.goals set progress = 75.5 where id = 'g_a'")
    pg.execute(f"delete from {pg.schema}.practice_sessions where id = 'ps_e'")
    out = pg.dbt("run").stdout
    assert "migration goal: success processed=3 inserted=0 updated=1 unchanged=2" in out
    after = {table: cached(pg, table) for table in tables}
    assert after["logbook_entries"] == before["logbook_entries"]
    assert set(after["practice_sessions"]) == set(before["practice_sessions"]) - {"ps_e"}
    for kept in after["practice_sessions"]:
        assert after["practice_sessions"][kept] == before["practice_sessions"][kept]
    for kept in ("g_b", "g_c"):
        assert after["goals"][kept] == before["goals"][kept]
    xmin, fingerprint, data = after["goals"]["g_a"]
    assert xmin != before["goals"]["g_a"][0] and fingerprint != before["goals"]["g_a"][1]
    assert '"progress":75.5,' in data


@pytest.mark.parametrize("seed", [1, 2])
def test_postgres_js_json_matches_javascript(pg, seed):
    """The PL/pgSQL js_json() against node, on the texts test_js_json gives
    the C extension, plus nesting deeper than PostgreSQL's walk allows."""
    deep = ["[" * 500 + "1.50" + "]" * 500, "[" * 501 + "1" + "]" * 501]
    texts = random_texts(random.Random(seed), 5000) + INVALID + deep
    expected = javascript_answers(texts)
    expected[-1] = None  # deeper than 500: refused on PostgreSQL (README)
    pg.dbt("run")  # on-run-start installs the functions
    # as the profile connects: the functions call each other by plain name
    pg.execute(f"set search_path = {pg.schema}_work, {pg.schema}")
    got = pg.query(
        f"select case when {pg.schema}_work.js_json_is_valid(t)"
        f" then {pg.schema}_work.js_json(t) end as doc,"
        f" {pg.schema}_work.js_json_is_valid(t) as valid"
        " from unnest(%s::text[]) with ordinality as input (t, n) order by n",
        (texts,),
    )
    wrong = [
        (t, e, g["doc"]) for t, e, g in zip(texts, expected, got, strict=True) if e != g["doc"]
    ]
    assert wrong == []
    assert [g["valid"] for g in got] == [e is not None for e in expected]
    assert expected[-2] == "[" * 500 + "1.5" + "]" * 500
