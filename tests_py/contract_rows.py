"""The hand-written backend rows of the contract's cases (issue 2): every
optional column empty, quoted ids, REAL and text timestamps, a user id that
is an SQL injection attempt. Loaded by the tests of several components."""

import hashlib
import random
import shutil
import sqlite3
from pathlib import Path

import pytest
import rowgen
from conftest import insert_rows, run_dbt

USERS = [
    {"id": "u_1", "email": "one@example.com", "primary_instrument": "PIANO"},
    {"id": "u_2", "email": "two@example.com", "primary_instrument": "GUITAR"},
    {
        "id": "o'brien\"; drop table users; --",
        "email": "q@example.com",
        "primary_instrument": "PIANO",
    },
]
QUOTED_USER = USERS[2]["id"]
T0 = 1717200000000  # 2024-06-01T00:00:00.000Z

LOGBOOK = [
    # every optional empty; metadata NULL -> {"source":"manual"}
    {
        "id": "le_a",
        "user_id": "u_1",
        "timestamp": T0,
        "duration": 1800,
        "type": "PRACTICE",
        "instrument": "PIANO",
        "pieces": "[]",
        "techniques": "[]",
        "goal_ids": "[]",
        "tags": "[]",
        "created_at": T0,
        "updated_at": T0,
    },
    # '' everywhere it can be, REAL timestamp truncated, text duration kept
    {
        "id": "le_b",
        "user_id": "u_1",
        "timestamp": T0 + 0.999,
        "duration": "90 min",
        "type": "lesson",
        "instrument": "GUITAR",
        "pieces": "",
        "techniques": "",
        "goal_ids": "",
        "notes": "",
        "mood": "",
        "tags": "",
        "session_id": "",
        "metadata": "",
        "created_at": -1,
        "updated_at": 0,
    },
    # non-canonical JSON everywhere
    {
        "id": "le_c",
        "user_id": "u_2",
        "timestamp": 8_640_000_000_000_000,
        "duration": 50.0,
        "type": "PERFORMANCE",
        "instrument": "PIANO",
        "pieces": '[ {"title" : "Caf\\u00e9 \\/ Bar", "tempo": 96.0, "n": 1E2, "z": -0, "big": 12345678901234567890} ]',
        "techniques": '[ "legato" , "\\ud83c\\udfb9" ]',
        "goal_ids": '["g1"]',
        "notes": 'She said "slower" \\ ok\n\ttab \x01 é 🎹',
        "mood": "EXCITED",
        "tags": '["x","y"]',
        "session_id": "ps_a",
        "metadata": '{"b":1,"a":{"k":[1.5,2.50,1e21,1e-7,0.1]},"b":2,"1":"one","0":"zero"}',
        "created_at": -8_640_000_000_000_000,
        "updated_at": 253402300800000,
    },
]
GOALS = [
    {
        "id": "g_a",
        "user_id": "u_1",
        "title": "Third",
        "progress": 100 / 3,
        "milestones": "[]",
        "status": "ACTIVE",
        "linked_entries": "[]",
        "created_at": T0,
        "updated_at": T0,
    },
    {
        "id": "g_b",
        "user_id": "u_2",
        "title": "Half",
        "description": "",
        "target_date": 0,
        "progress": 50.0,
        "milestones": "",
        "status": "",
        "linked_entries": "",
        "created_at": T0,
        "updated_at": T0 + 1,
        "completed_at": "",
    },
    {
        "id": "g_c",
        "user_id": "u_2",
        "title": "Done",
        "description": "Ünïcödé ✓",
        "target_date": T0 + 86_400_000,
        "progress": 1e-7,
        "milestones": '[{"title":"One","done":true},{"title":"Two","done":false}]',
        "status": "COMPLETED",
        "linked_entries": '["le_a"]',
        "created_at": T0,
        "updated_at": T0,
        "completed_at": T0 + 123,
    },
]
SESSIONS = [
    {
        "id": "ps_a",
        "user_id": "u_1",
        "instrument": "PIANO",
        "session_type": "FREE_PRACTICE",
        "started_at": "2024-06-01 08:00:00",
        "completed_at": "2024-06-01 09:30:15.5",
    },
    {
        "id": "ps_b",
        "user_id": "u_1",
        "instrument": "GUITAR",
        "sheet_music_id": "",
        "session_type": "GUIDED_PRACTICE",
        "started_at": "2024-06-02T07:45:00.123456Z",
        "completed_at": "",
        "paused_duration": None,
        "accuracy_percentage": 0,
        "notes_attempted": None,
        "notes_correct": None,
    },
    {
        "id": "ps_c",
        "user_id": "u_2",
        "instrument": "PIANO",
        "sheet_music_id": "bach",
        "session_type": "ASSESSMENT",
        "started_at": "2024-06-04T20:10:05.9999+02:00",
        "completed_at": 0,
        "paused_duration": 30,
        "accuracy_percentage": 91.66666666666667,
        "notes_attempted": 1200,
        "notes_correct": 1100,
    },
    {
        "id": "ps_d",
        "user_id": QUOTED_USER,
        "instrument": "PIANO",
        "session_type": "ASSESSMENT",
        "started_at": "2024-06-05T06:00:00-05:30",
        "completed_at": "2024-06-06T21:00:00",
        "accuracy_percentage": 33.333333333333336,
    },
    {
        "id": "ps_e",
        "user_id": "u_2",
        "instrument": "PIANO",
        "session_type": "FREE_PRACTICE",
        "started_at": 1717833600123,
        "completed_at": 1717833600123.9,
    },
]


def load_fixture(db):
    insert_rows(db, "users", USERS)
    insert_rows(db, "logbook_entries", LOGBOOK)
    insert_rows(db, "goals", GOALS)
    insert_rows(db, "practice_sessions", SESSIONS)


# (id, user_id, entity_type, entity_id, data): what devices and the API wrote
API_ROWS = [
    ("sync_dev_le", "u_1", "logbook_entry", "le_device_1", '{"id":"le_device_1","duration":60}'),
    ("sync_dev_goal", "u_2", "goal", "g_device_1", '{"id":"g_device_1","title":"From a phone"}'),
    ("sync_api_setting", "u_1", "setting", "theme", '{"dark":true}'),
]


def add_api_rows(db):
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "insert into sync_data (id, user_id, entity_type, entity_id, data, checksum, version)"
            " values (?, ?, ?, ?, ?, ?, 3)",
            [(*row, hashlib.sha256(row[4].encode()).hexdigest()) for row in API_ROWS],
        )
        return conn.execute("select * from sync_data order by id").fetchall()


def migrated_template(tmp_path_factory, template_db, *dbt_args, api_rows=False):
    """A database holding the backend fixture (and the API's rows, with
    api_rows) after one dbt command, made once per test process: the
    database and its work file (the document cache and the merge's own
    tables, with the work file's id)."""
    path = tmp_path_factory.mktemp("migrated") / "backend.db"
    shutil.copy(template_db, path)
    load_fixture(path)
    if api_rows:
        add_api_rows(path)
    run_dbt(path, *dbt_args)
    for leftover in (f"{path}-wal", f"{path}.dbt-work-wal", f"{path}-journal"):
        assert not Path(leftover).exists(), f"{leftover}: the copies would miss it"
    return path


def copy_database(template, path):
    """A copy of a database and its work file at path, as the run left them."""
    for suffix in ("", ".dbt-work"):
        shutil.copy(f"{template}{suffix}", f"{path}{suffix}")
    return path


@pytest.fixture(scope="session")
def fixture_run_template(tmp_path_factory, template_db):
    return migrated_template(tmp_path_factory, template_db, "run")


@pytest.fixture(scope="session")
def fixture_build_template(tmp_path_factory, template_db):
    return migrated_template(tmp_path_factory, template_db, "build", "--exclude", "test_type:unit")


@pytest.fixture(scope="session")
def production_like_prod_run_template(tmp_path_factory, template_db):
    return migrated_template(
        tmp_path_factory, template_db, "run", "--target", "prod", api_rows=True
    )


@pytest.fixture
def fixture_run(fixture_run_template, tmp_path):
    """The backend fixture after `dbt run` (load_fixture, then run), in this
    test's own database: one run per test process, copied."""
    return copy_database(fixture_run_template, tmp_path / "backend.db")


@pytest.fixture
def fixture_built(fixture_build_template, tmp_path):
    """The backend fixture after `dbt build --exclude test_type:unit`, in
    this test's own database: one build per test process, copied."""
    return copy_database(fixture_build_template, tmp_path / "backend.db")


@pytest.fixture
def production_like_prod_run(production_like_prod_run_template, tmp_path):
    """production_like after `dbt run --target prod`, in this test's own
    database: one run per test process, copied."""
    return copy_database(production_like_prod_run_template, tmp_path / "backend.db")


@pytest.fixture
def production_like(db):
    """The backend fixture and the API's own rows, nothing migrated yet."""
    load_fixture(db)
    add_api_rows(db)
    return db


# What JavaScript gives, computed with JSON.stringify and toISOString in node
# (see test_documents_match_javascript); spelled out here for the cases the
# contract names, so a reader sees them and a change of oracle cannot hide.
EXPECTED_DATA = {
    (
        "logbook_entry",
        "le_a",
    ): '{"id":"le_a","timestamp":"2024-06-01T00:00:00.000Z","duration":1800,"type":"PRACTICE",'
    '"instrument":"PIANO","pieces":[],"techniques":[],"goalIds":[],"notes":null,"mood":null,'
    '"tags":[],"sessionId":null,"metadata":{"source":"manual"},'
    '"createdAt":"2024-06-01T00:00:00.000Z","updatedAt":"2024-06-01T00:00:00.000Z"}',
    (
        "goal",
        "g_b",
    ): '{"id":"g_b","title":"Half","description":null,"targetDate":null,"progress":50,'
    '"milestones":[],"status":"ACTIVE","linkedEntries":[],"createdAt":"2024-06-01T00:00:00.000Z",'
    '"updatedAt":"2024-06-01T00:00:00.001Z","completedAt":null}',
    (
        "practice_session",
        "ps_d",
    ): '{"id":"ps_d","instrument":"PIANO","sheetMusicId":null,"sessionType":"ASSESSMENT",'
    '"startedAt":"2024-06-05T11:30:00.000Z","completedAt":"2024-06-06T21:00:00.000Z",'
    '"pausedDuration":0,"accuracyPercentage":33.333333333333336,"notesAttempted":0,"notesCorrect":0}',
}


def load_random_rows(db, seed, per_table):
    """Three users and `per_table` random rows in each entity table."""
    rng = random.Random(seed)
    users = ["u_1", "u_2", "u_3"]
    insert_rows(db, "users", [{"id": u, "email": f"{u}@example.com"} for u in users])
    for table, make in [
        ("logbook_entries", rowgen.logbook_entry),
        ("goals", rowgen.goal),
        ("practice_sessions", rowgen.practice_session),
    ]:
        insert_rows(db, table, [make(rng, i, users) for i in range(per_table)])
