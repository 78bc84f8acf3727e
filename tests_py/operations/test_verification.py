"""Verification (issue 3): every dbt test can fail, unit-test goldens are
JavaScript's, and the verify_migration analysis returns the right numbers."""

import hashlib
import json
import os
import re
import sqlite3
import subprocess

import pytest
import yaml
from conftest import (
    JS_JSON_EXT,
    PROJECT_DIR,
    insert_rows,
    oracle,
    run_dbt,
)
from contract_rows import load_fixture

ENTITY_OF_MODEL = {
    "int_logbook_entries_documented": "logbook_entry",
    "int_goals_documented": "goal",
    "int_practice_sessions_documented": "practice_session",
}


def failing_tests(proc):
    """Names of the dbt tests reported as failing (error severity)."""
    return set(re.findall(r"\d+ of \d+ FAIL \d+ (\S+)", proc.stdout))


@pytest.fixture
def migrated(fixture_built):
    """load_fixture, then dbt build --exclude test_type:unit."""
    return fixture_built


def test_clean_build_passes_every_test(migrated):
    proc = run_dbt(migrated, "test", "--select", "sync_data")
    assert "FAIL" not in proc.stdout.replace("FAIL=0", "")


def test_corrupted_checksum_fails_sha256_and_reconciliation(migrated):
    with sqlite3.connect(migrated) as conn:
        conn.execute("update sync_data set checksum = 'deadbeef' where entity_id = 'g_a'")
    proc = run_dbt(migrated, "test", "--select", "sync_data", expect_ok=False)
    # the row is no longer what the migration left there: to reconciliation
    # that is the API's edit (issue 15), but its checksum is still judged
    assert failing_tests(proc) == {"is_sha256_of_sync_data_checksum__data"}


def test_owned_row_behind_the_backend_fails_reconciliation(migrated):
    # as if the merge had written, and recorded, a document the backend never had
    stale = hashlib.sha256(b"{}").hexdigest()
    with sqlite3.connect(migrated) as conn:
        conn.execute(
            "update sync_data set data = '{}', checksum = ? where entity_id = 'g_a'", (stale,)
        )
        conn.execute("update migration_ledger set checksum = ? where entity_id = 'g_a'", (stale,))
    proc = run_dbt(migrated, "test", "--select", "sync_data", expect_ok=False)
    assert failing_tests(proc) == {
        "reconciles_with_source_sync_data_ref_int_sync_documents_unioned_"
    }


def test_deleted_row_fails_reconciliation(migrated):
    with sqlite3.connect(migrated) as conn:
        conn.execute("delete from sync_data where entity_id = 'ps_a'")
    proc = run_dbt(migrated, "test", "--select", "sync_data", expect_ok=False)
    assert failing_tests(proc) == {
        "reconciles_with_source_sync_data_ref_int_sync_documents_unioned_"
    }
    assert "1 of" in proc.stdout or "Got 1 result" in proc.stdout


def test_extra_row_is_reported_never_failed(migrated):
    """A row no backend row explains is the API's (devices push rows of the
    same entity types): listed at warn severity, never an error."""
    with sqlite3.connect(migrated) as conn:
        conn.execute(
            "insert into sync_data (id, user_id, entity_type, entity_id, data, checksum) "
            "select 'sync_x', user_id, entity_type, 'ghost', data, checksum from sync_data where entity_id = 'g_a'"
        )
    proc = run_dbt(migrated, "test", "--select", "sync_data")
    assert failing_tests(proc) == set()
    assert re.search(
        r"\d+ of \d+ WARN 1 rows_without_source_sync_data_ref_int_sync_documents_unioned_",
        proc.stdout,
    )


def test_duplicate_key_fails_unique_combination(tmp_path, template_db):
    """A sync_data without the API's UNIQUE constraint, holding a duplicate key."""
    path = tmp_path / "loose.db"
    with sqlite3.connect(template_db) as src, sqlite3.connect(path) as dst:
        for (sql,) in src.execute(
            "select sql from sqlite_master where type = 'table' and name != 'sync_data'"
        ):
            dst.execute(sql)
        dst.execute(
            "create table sync_data (id text primary key, user_id text not null, entity_type text not null,"
            " entity_id text not null, data text not null, checksum text not null, version integer default 1,"
            " created_at timestamp default current_timestamp, updated_at timestamp default current_timestamp,"
            " deleted_at timestamp)"
        )
    load_fixture(path)
    run_dbt(path, "run")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "insert into sync_data select 'sync_dup', user_id, entity_type, entity_id, data, checksum,"
            " version, created_at, updated_at, deleted_at from sync_data where entity_id = 'le_a'"
        )
    proc = run_dbt(path, "test", "--select", "sync_data", expect_ok=False)
    assert "unique_combination_sync_data_user_id__entity_type__entity_id" in failing_tests(proc)


def test_version_and_orphan_tests_fail(migrated):
    with sqlite3.connect(migrated) as conn:
        conn.execute("update sync_data set version = 0 where entity_id = 'le_a'")
        conn.execute(
            "insert into sync_data (id, user_id, entity_type, entity_id, data, checksum) "
            "values ('sync_api', 'u_nobody', 'setting', 's1', '{}', 'x')"
        )
    proc = run_dbt(migrated, "test", "--select", "sync_data", expect_ok=False)
    assert failing_tests(proc) == {
        "at_least_sync_data_version__1",
        "relationships_sync_data_user_id__id__source_backend_users_",
    }


def test_bad_enum_warns_but_does_not_fail(migrated):
    with sqlite3.connect(migrated) as conn:
        conn.execute("update logbook_entries set type = 'JAM' where id = 'le_a'")
    proc = run_dbt(migrated, "build", "--exclude", "test_type:unit")
    # 'JAM' and the fixture's lower-case 'lesson': reported, migrated as stored
    assert "WARN 2 source_accepted_values_backend_logbook_entries_type__" in proc.stdout
    with sqlite3.connect(migrated) as conn:
        (data,) = conn.execute("select data from sync_data where entity_id = 'le_a'").fetchone()
    assert '"type":"JAM"' in data


def unit_tests():
    spec = yaml.safe_load(
        (PROJECT_DIR / "models/intermediate/_intermediate__models.yml").read_text()
    )
    return spec["unit_tests"]


def test_unit_test_goldens_are_javascripts():
    """Every expected document in the unit tests is what the JS oracle gives
    for the fixture rows (run through SQLite to get their storage classes)."""
    conn = sqlite3.connect(":memory:")
    checked = 0
    for unit_test in unit_tests():
        cur = conn.execute(unit_test["given"][0]["rows"])
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        entity_type = ENTITY_OF_MODEL[unit_test["model"]]
        verdicts = oracle(
            [{"entity_type": entity_type, "row": r, "user_exists": True} for r in rows]
        )
        expected = unit_test["expect"]["rows"]
        assert len(expected) == len(rows), unit_test["name"]
        for row, verdict, want in zip(rows, verdicts, expected, strict=True):
            assert want["entity_id"] == row["id"]
            if "data" in verdict:
                assert want["data"] == verdict["data"], (unit_test["name"], row["id"])
                assert want["reject_reason"] is None
            else:
                assert want["data"] is None
                assert want["reject_reason"].startswith(verdict["reject"] + ": "), row["id"]
            checked += 1
    assert checked == 47


@pytest.mark.parametrize(
    "macro_file, old, new, broken",
    [
        (
            "macros/contract/document_values.sql",
            "then '{{ when_empty }}'\n        else {{ js_json(column) }}",
            "then '[ ]'\n        else {{ js_json(column) }}",
            {"logbook_defaults", "goal_defaults"},
        ),
        (
            "macros/adapters/js_number.sql",
            "coalesce(js_number({{ expr }}), 'null')",
            "coalesce(cast({{ expr }} as text), 'null')",
            {"goal_numbers", "goal_defaults", "logbook_numbers_and_strings", "session_defaults"},
        ),
        # SQLite's own json() keeps escapes, number text and duplicate keys as written
        (
            "macros/adapters/js_json.sql",
            "    js_json({{ expr }})",
            "    json({{ expr }})",
            {"logbook_json_reserialised"},
        ),
        # the offset's sign turned: SQLite's reader is C (datetime_text_ms)
        (
            "macros/adapters/unix_ms_from_datetime_text.sql",
            "datetime_text_ms(cast({{ expr }} as text))",
            "datetime_text_ms(replace(cast({{ expr }} as text), '+', '-'))",
            {"session_datetime_forms"},
        ),
    ],
)
def test_unit_tests_fail_when_a_rule_breaks(project_copy, db, macro_file, old, new, broken):
    path = project_copy / macro_file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    load_fixture(db)
    env = dict(os.environ, SYNC_DB_PATH=str(db), DBT_SEND_ANONYMOUS_USAGE_STATS="False")
    proc = subprocess.run(
        [str(PROJECT_DIR / ".venv/bin/dbt"), "test", "--select", "test_type:unit"],
        cwd=project_copy,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    failed = {
        line.split("::")[1].split(" ")[0] for line in proc.stdout.splitlines() if " FAIL " in line
    }
    assert broken <= failed, (failed, proc.stdout[-3000:])


def run_verify_analysis(db):
    """The README's way: compile the analysis, run it with sqlite3 and the extension."""
    run_dbt(db, "compile", "--select", "verify_migration")
    compiled = (
        PROJECT_DIR / "target/compiled/sync_data_migration/analyses/verify_migration.sql"
    ).read_text()
    proc = subprocess.run(
        [
            "sqlite3",
            "-json",
            "-cmd",
            f".load {str(JS_JSON_EXT)[:-3]}",
            "-cmd",
            f"attach '{db}.dbt-work' as work",
            str(db),
        ],
        input=compiled,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout or "[]")


def test_verify_migration_analysis_numbers(migrated):
    insert_rows(migrated, "users", [{"id": "u_idle", "email": "idle@example.com"}])
    insert_rows(
        migrated,
        "goals",
        [
            {
                "id": "g_bad",
                "user_id": "u_1",
                "title": "Bad",
                "milestones": "[1,",
                "created_at": 1,
                "updated_at": 1,
            },
            {
                "id": "g_orphan",
                "user_id": "u_gone",
                "title": "Orphan",
                "created_at": 1,
                "updated_at": 1,
            },
        ],
    )
    run_dbt(migrated, "run")
    with sqlite3.connect(migrated) as conn:
        conn.execute("update sync_data set checksum = 'bad' where entity_id = 'le_b'")
    rows = run_verify_analysis(migrated)
    by_check = {}
    for row in rows:
        by_check.setdefault(row["check_name"], []).append(row)
    assert [
        (r["entity_type"], r["detail"], r["value"]) for r in by_check["1 sync_data by entity type"]
    ] == [
        ("goal", "2 users", 3),
        ("logbook_entry", "2 users", 3),
        ("practice_session", "3 users", 5),
    ]
    assert {r["entity_type"]: r["value"] for r in by_check["2 source rows"]} == {
        "users": 4,
        "logbook_entries": 3,
        "goals": 5,
        "practice_sessions": 5,
    }
    assert [r["user_id"] for r in by_check["3 user without sync data"]] == ["u_idle"]
    assert len(by_check["4 sample"]) == 11
    sample = {r["entity_id"]: r["detail"] for r in by_check["4 sample"]}
    assert sample["le_a"] == "2024-06-01T00:00:00.000Z PRACTICE"
    assert sample["ps_d"] == "2024-06-05T11:30:00.000Z ASSESSMENT"
    assert "5 duplicate key" not in by_check
    assert [
        (r["entity_type"], r["detail"], r["value"]) for r in by_check["6 rejected by reason"]
    ] == [
        ("goal", "invalid_json", 1),
        ("goal", "orphan_user", 1),
    ]
    assert [r["entity_id"] for r in by_check["7 checksum mismatch"]] == ["le_b"]
