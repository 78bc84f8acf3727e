"""The core migration (issue 2): exact documents, idempotence, change
detection, untouched neighbours, filters, full refresh, read-only source."""

import hashlib
import re
import sqlite3

import pytest
from conftest import (
    BACKEND_COLUMNS,
    DEFAULT_DEV_DB,
    copy_project,
    fetch_sync_data,
    insert_rows,
    oracle_for_database,
    run_dbt,
    table_digest,
)
from contract_rows import (
    EXPECTED_DATA,
    GOALS,
    LOGBOOK,
    QUOTED_USER,
    SESSIONS,
    USERS,
    load_fixture,
    load_random_rows,
)


@pytest.fixture
def migrated(fixture_run):
    """load_fixture, then dbt run."""
    return fixture_run


def test_documents_match_javascript(migrated):
    expected = oracle_for_database(migrated)
    rows = fetch_sync_data(migrated)
    assert len(expected) == len(LOGBOOK) + len(GOALS) + len(SESSIONS) == 11
    assert all("data" in verdict for verdict in expected.values())
    assert set(rows) == set(expected)
    for key, verdict in expected.items():
        assert rows[key]["data"] == verdict["data"], key
        assert rows[key]["checksum"] == verdict["checksum"], key
    for key, data in EXPECTED_DATA.items():
        assert expected[key]["data"] == data
        assert rows[key]["data"] == data


def test_contract_cases_spelled_out(migrated):
    rows = fetch_sync_data(migrated)
    le_c = rows[("logbook_entry", "le_c")]["data"]
    assert (
        '"pieces":[{"title":"Café / Bar","tempo":96,"n":100,"z":0,"big":12345678901234567000}]'
        in le_c
    )
    assert '"techniques":["legato","🎹"]' in le_c
    assert '"notes":"She said \\"slower\\" \\\\ ok\\n\\ttab \\u0001 é 🎹"' in le_c
    assert '"metadata":{"0":"zero","1":"one","b":2,"a":{"k":[1.5,2.5,1e+21,1e-7,0.1]}}' in le_c
    assert '"timestamp":"+275760-09-13T00:00:00.000Z"' in le_c
    assert (
        '"createdAt":"-271821-04-20T00:00:00.000Z","updatedAt":"+010000-01-01T00:00:00.000Z"'
        in le_c
    )
    assert '"duration":50,' in le_c
    le_b = rows[("logbook_entry", "le_b")]["data"]
    assert '"timestamp":"2024-06-01T00:00:00.000Z","duration":"90 min","type":"lesson"' in le_b
    assert '"createdAt":"1969-12-31T23:59:59.999Z","updatedAt":"1970-01-01T00:00:00.000Z"' in le_b
    assert '"progress":33.333333333333336,' in rows[("goal", "g_a")]["data"]
    assert '"progress":1e-7,' in rows[("goal", "g_c")]["data"]
    ps_c = rows[("practice_session", "ps_c")]["data"]
    assert '"startedAt":"2024-06-04T18:10:05.999Z","completedAt":null' in ps_c
    ps_b = rows[("practice_session", "ps_b")]["data"]
    assert (
        '"startedAt":"2024-06-02T07:45:00.123Z","completedAt":null,"pausedDuration":0,"accuracyPercentage":0'
        in ps_b
    )
    ps_e = rows[("practice_session", "ps_e")]["data"]
    assert '"startedAt":"2024-06-08T08:00:00.123Z","completedAt":"2024-06-08T08:00:00.123Z"' in ps_e
    assert '"completedAt":"2024-06-01T09:30:15.500Z"' in rows[("practice_session", "ps_a")]["data"]


def test_rows_written_as_the_contract_says(migrated):
    rows = fetch_sync_data(migrated)
    ids = [row["id"] for row in rows.values()]
    assert len(set(ids)) == len(ids) == 11
    for row in rows.values():
        assert re.fullmatch(r"sync_\d{13}_[0-9a-z]{9}", row["id"]), row["id"]
        assert hashlib.sha256(row["data"].encode("utf-8")).hexdigest() == row["checksum"]
        assert row["version"] == 1
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row["created_at"])
        assert row["updated_at"] == row["created_at"]
        assert row["deleted_at"] is None
    assert rows[("practice_session", "ps_d")]["user_id"] == QUOTED_USER


def test_second_run_changes_nothing(migrated):
    before = table_digest(migrated, ["sync_data"])
    proc = run_dbt(migrated, "run")
    assert "inserted=0 updated=0 unchanged=3" in proc.stdout
    assert table_digest(migrated, ["sync_data"]) == before


def test_changed_row_gets_next_version_and_new_row_is_inserted(migrated):
    before = fetch_sync_data(migrated)
    with sqlite3.connect(migrated) as conn:
        conn.execute("update goals set progress = 75.5 where id = 'g_a'")
        conn.execute("update sync_data set updated_at = '2000-01-01 00:00:00'")
    insert_rows(migrated, "goals", [dict(GOALS[0], id="g_new", title="New")])
    stale = fetch_sync_data(migrated)
    run_dbt(migrated, "run")
    after = fetch_sync_data(migrated)
    assert set(after) == set(before) | {("goal", "g_new")}
    changed = after[("goal", "g_a")]
    assert changed["version"] == 2
    assert changed["id"] == before[("goal", "g_a")]["id"]
    assert changed["created_at"] == before[("goal", "g_a")]["created_at"]
    assert changed["updated_at"] != "2000-01-01 00:00:00"
    assert '"progress":75.5,' in changed["data"]
    assert changed["checksum"] == oracle_for_database(migrated)[("goal", "g_a")]["checksum"]
    assert after[("goal", "g_new")]["version"] == 1
    for key, row in stale.items():
        if key != ("goal", "g_a"):
            assert after[key] == row, key


def test_rows_the_api_wrote_are_untouched(db):
    load_fixture(db)
    api_rows = [
        (
            "sync_api_1",
            "u_1",
            "device_state",
            "le_a",
            '{"x":1}',
            "abc",
            7,
            "2020-01-01 00:00:00",
            "2020-01-02 00:00:00",
            None,
        ),
        (
            "sync_api_2",
            "u_2",
            "setting",
            "theme",
            '{"dark":true}',
            "def",
            3,
            "2020-01-01 00:00:00",
            "2020-01-03 00:00:00",
            "2020-02-01 00:00:00",
        ),
    ]
    with sqlite3.connect(db) as conn:
        conn.executemany("insert into sync_data values (?,?,?,?,?,?,?,?,?,?)", api_rows)
    run_dbt(db, "run")
    run_dbt(db, "run", "--full-refresh")
    with sqlite3.connect(db) as conn:
        kept = conn.execute(
            "select * from sync_data where entity_type in ('device_state', 'setting') order by id"
        ).fetchall()
    assert kept == api_rows
    assert len(fetch_sync_data(db)) == 13


def test_full_refresh_keeps_sync_data_in_place(migrated):
    with sqlite3.connect(migrated) as conn:
        schema_before = conn.execute("select sql from sqlite_master order by name").fetchall()
    before = table_digest(migrated, ["sync_data"])
    proc = run_dbt(migrated, "run", "--full-refresh")
    assert "--full-refresh ignored" in proc.stdout
    assert table_digest(migrated, ["sync_data"]) == before
    with sqlite3.connect(migrated) as conn:
        assert (
            conn.execute("select sql from sqlite_master order by name").fetchall() == schema_before
        )


def test_user_filter_touches_only_that_user(db):
    load_fixture(db)
    run_dbt(db, "run", "--vars", "{user_id: u_2}")
    rows = fetch_sync_data(db)
    assert sorted(rows) == [
        ("goal", "g_b"),
        ("goal", "g_c"),
        ("logbook_entry", "le_c"),
        ("practice_session", "ps_c"),
        ("practice_session", "ps_e"),
    ]
    quoted = run_dbt(db, "run", "--vars", "{user_id: '" + QUOTED_USER.replace("'", "''") + "'}")
    assert "inserted=1 updated=0 unchanged=0" in quoted.stdout
    rows = fetch_sync_data(db)
    assert len(rows) == 6
    assert rows[("practice_session", "ps_d")]["user_id"] == QUOTED_USER
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from users").fetchone() == (3,)


def test_entity_filter_by_var_and_by_tag(db):
    load_fixture(db)
    run_dbt(db, "run", "--vars", "{entity_types: [goal]}")
    assert {key[0] for key in fetch_sync_data(db)} == {"goal"}
    assert len(fetch_sync_data(db)) == 3
    run_dbt(db, "run", "--vars", "{entity_types: 'goal,practice_session'}")
    assert len(fetch_sync_data(db)) == 8
    with sqlite3.connect(db) as conn:
        conn.execute("update goals set title = 'Changed' where id = 'g_a'")
    before = fetch_sync_data(db)
    run_dbt(db, "run", "--select", "tag:logbook_entry+")
    after = fetch_sync_data(db)
    assert len(after) == 11
    assert after[("goal", "g_a")] == before[("goal", "g_a")]


def test_unknown_entity_type_is_a_clear_error(db):
    proc = run_dbt(db, "run", "--vars", "{entity_types: [goals]}", expect_ok=False)
    assert "Unknown entity type 'goals'" in proc.stdout


def test_backend_tables_are_never_written(db):
    load_fixture(db)
    tables = list(BACKEND_COLUMNS)
    before = table_digest(db, tables)
    with sqlite3.connect(db) as conn:
        schema_before = conn.execute(
            "select type, name, tbl_name, sql from sqlite_master"
        ).fetchall()
    run_dbt(db, "build")
    run_dbt(db, "run", "--vars", "{user_id: u_1}")
    with sqlite3.connect(db) as conn:
        after = conn.execute(
            "select type, name, tbl_name, sql from sqlite_master order by name"
        ).fetchall()
    digest = table_digest(db, tables)
    for table in tables:
        assert digest[table] == before[table]
    new_objects = {name for _, name, _, _ in set(after) - set(schema_before)}
    assert new_objects == {
        "migration_runs",
        "sqlite_autoindex_migration_runs_1",
        "migration_rejects",
        "sqlite_autoindex_migration_rejects_1",
        "migration_ledger",
        "sqlite_autoindex_migration_ledger_1",
        "migration_ledger_by_entity",
        "migration_conflicts",
    }
    assert set(schema_before) <= set(after)


def test_fresh_database_gets_the_api_ddl(tmp_path, template_db):
    path = tmp_path / "fresh.db"
    with sqlite3.connect(template_db) as src, sqlite3.connect(path) as dst:
        for (sql,) in src.execute(
            "select sql from sqlite_master where name in ('users','logbook_entries','goals','practice_sessions')"
        ):
            dst.execute(sql)
    insert_rows(path, "users", USERS)
    insert_rows(path, "goals", GOALS)
    run_dbt(path, "run")
    with sqlite3.connect(path) as conn:
        objects = dict(
            conn.execute("select name, type from sqlite_master where tbl_name = 'sync_data'")
        )
        fks = conn.execute("pragma foreign_key_list(sync_data)").fetchall()
        count = conn.execute("select count(*) from sync_data").fetchone()[0]
        views = conn.execute("select name from sqlite_master where type = 'view'").fetchall()
    assert objects == {
        "sync_data": "table",
        "sqlite_autoindex_sync_data_1": "index",
        "sqlite_autoindex_sync_data_2": "index",
        "idx_sync_data_user_id": "index",
        "idx_sync_data_entity_type": "index",
        "idx_sync_data_updated_at": "index",
        "update_sync_data_timestamp": "trigger",
    }
    assert [(fk[2], fk[3], fk[4], fk[6]) for fk in fks] == [("users", "user_id", "id", "CASCADE")]
    assert count == 3
    assert views == []


def test_sample_backend_builds_and_matches_javascript(tmp_path):
    """The embedded default (seeds) in a fresh dev database, as `make run` does."""
    project = copy_project(tmp_path / "project")
    run_dbt(DEFAULT_DEV_DB, "build", project_dir=project)
    path = project / DEFAULT_DEV_DB
    expected = oracle_for_database(path)
    rows = fetch_sync_data(path)
    migrated = {key: v for key, v in expected.items() if "data" in v}
    assert len(expected) == 57 and len(migrated) == 54
    assert {key for key, v in expected.items() if "reject" in v} == {
        ("logbook_entry", "le_031"),
        ("logbook_entry", "le_032"),
        ("goal", "goal_013"),
    }
    assert {key: row["data"] for key, row in rows.items()} == {
        k: v["data"] for k, v in migrated.items()
    }
    # a plain sqlite3 client (no extensions) reads every object the run left
    with sqlite3.connect(path) as conn:
        for (name,) in conn.execute(
            "select name from sqlite_master where type in ('table', 'view')"
        ):
            conn.execute(f'select * from "{name}"').fetchall()


@pytest.mark.parametrize("seed", [1, 2])
def test_differential_random_rows(db, seed):
    load_random_rows(db, seed, 150)
    run_dbt(db, "run")
    expected = oracle_for_database(db)
    rows = fetch_sync_data(db)
    migrated = {key: v for key, v in expected.items() if "data" in v}
    assert len(migrated) > 300
    assert set(rows) == set(migrated)
    mismatches = [
        (key, rows[key]["data"], v["data"])
        for key, v in migrated.items()
        if rows[key]["data"] != v["data"]
    ]
    assert mismatches == []
