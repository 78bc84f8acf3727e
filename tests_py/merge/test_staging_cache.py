"""The staging cache (issue 6): a re-run rebuilds only the documents whose
source row, or whose transformation, changed; sync_data is still compared
with every document, so nothing changed anywhere is ever missed."""

import hashlib
import sqlite3

from conftest import JS_JSON_EXT, fetch_sync_data, insert_rows, oracle_for_database, run_dbt
from contract_rows import GOALS, LOGBOOK, load_fixture


def cached(db, table):
    """{entity_id: (rowid, source_fingerprint, document)} of a documented model."""
    conn = sqlite3.connect(f"{db}.dbt-work")
    conn.enable_load_extension(True)
    conn.load_extension(str(JS_JSON_EXT))
    with conn:
        return {
            row[0]: row[1:]
            for row in conn.execute(
                "select entity_id, rowid, source_fingerprint, doc_unpack(data)"
                f" from int_{table}_documented"
            )
        }


def test_rerun_rebuilds_only_the_changed_source_rows(fixture_run):
    db = fixture_run  # load_fixture, then dbt run
    before = {
        table: cached(db, table) for table in ("goals", "logbook_entries", "practice_sessions")
    }
    with sqlite3.connect(db) as conn:
        conn.execute("update goals set progress = 75.5 where id = 'g_a'")
    insert_rows(db, "goals", [dict(GOALS[0], id="g_new", title="New")])
    proc = run_dbt(db, "run")
    assert (
        "migration goal: success processed=4 inserted=1 updated=1 unchanged=2 rejected=0"
        in proc.stdout
    )
    after = {table: cached(db, table) for table in before}
    assert after["logbook_entries"] == before["logbook_entries"]
    assert after["practice_sessions"] == before["practice_sessions"]
    assert set(after["goals"]) == {"g_a", "g_b", "g_c", "g_new"}
    for kept in ("g_b", "g_c"):
        assert after["goals"][kept] == before["goals"][kept]
    rowid, fingerprint, data = after["goals"]["g_a"]
    assert rowid != before["goals"]["g_a"][0] and fingerprint != before["goals"]["g_a"][1]
    assert data == oracle_for_database(db)[("goal", "g_a")]["data"]


def test_a_document_the_api_overwrote_is_kept_for_the_api(fixture_run):
    # issue 15: an edit made through the API is newer than the backend's
    # unchanged row, so it is kept, never reverted
    db = fixture_run  # load_fixture, then dbt run
    with sqlite3.connect(db) as conn:
        conn.execute(
            "update sync_data set data = '{}', checksum = ? where entity_id = 'le_a'",
            (hashlib.sha256(b"{}").hexdigest(),),
        )
    before = fetch_sync_data(db, "entity_id = 'le_a'")
    proc = run_dbt(db, "run")
    assert (
        "migration logbook_entry: success processed=3 inserted=0 updated=0 unchanged=2"
        " rejected=0 tombstoned=0 revived=0 kept_for_api=1" in proc.stdout
    )
    assert fetch_sync_data(db, "entity_id = 'le_a'") == before


def test_a_changed_macro_rebuilds_every_document_it_shapes(fixture_run, project_copy):
    db = fixture_run  # load_fixture, then dbt run
    defaults = project_copy / "macros/contract/document_values.sql"
    text = defaults.read_text()
    old = "then '{{ when_empty }}'\n        else {{ js_json(column) }}"
    assert old in text
    defaults.write_text(text.replace(old, "then '[ ]'\n        else {{ js_json(column) }}"))
    proc = run_dbt(db, "run", project_dir=project_copy)
    # le_a (NULL metadata), le_b and g_b hold empty JSON columns; no source row changed
    assert (
        "migration logbook_entry: success processed=3 inserted=0 updated=2 unchanged=1"
        in proc.stdout
    )
    assert "migration goal: success processed=3 inserted=0 updated=1 unchanged=2" in proc.stdout
    rows = fetch_sync_data(db)
    assert '"pieces":[ ],' in rows[("logbook_entry", "le_b")]["data"]
    assert rows[("logbook_entry", "le_b")]["version"] == 2
    assert rows[("logbook_entry", "le_c")]["version"] == 1
    # and back: the project's own SQL rebuilds them again
    run_dbt(db, "run")
    assert (
        fetch_sync_data(db)[("logbook_entry", "le_b")]["data"]
        == oracle_for_database(db)[("logbook_entry", "le_b")]["data"]
    )


def test_deleted_source_rows_leave_the_cache_within_the_scope(fixture_run):
    db = fixture_run  # load_fixture, then dbt run
    with sqlite3.connect(db) as conn:
        conn.execute("delete from goals where id in ('g_a', 'g_b')")  # users u_1 and u_2
    run_dbt(db, "run", "--vars", "{user_id: u_1}")
    assert set(cached(db, "goals")) == {"g_b", "g_c"}
    run_dbt(db, "run")
    assert set(cached(db, "goals")) == {"g_c"}


def test_rows_without_an_id_are_rebuilt_not_piled_up(db):
    load_fixture(db)
    insert_rows(db, "logbook_entries", [dict(LOGBOOK[0], id=None)])
    for _ in range(3):
        proc = run_dbt(db, "run")
        assert "migration logbook_entry: success processed=4" in proc.stdout
    with sqlite3.connect(f"{db}.dbt-work") as conn:
        assert conn.execute(
            "select count(*), min(reject_reason) from int_logbook_entries_documented where entity_id is null"
        ).fetchone() == (1, "missing_id: id: the id is null")
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from migration_rejects").fetchone() == (1,)


def test_a_row_changed_outside_a_filtered_run_is_caught_by_the_next_run(fixture_run):
    db = fixture_run  # load_fixture, then dbt run
    with sqlite3.connect(db) as conn:
        conn.execute("update goals set title = 'A2' where id = 'g_a'")  # u_1
        conn.execute("update goals set title = 'B2' where id = 'g_b'")  # u_2
    run_dbt(db, "run", "--vars", "{user_id: u_1}")
    rows = fetch_sync_data(db)
    assert (rows[("goal", "g_a")]["version"], rows[("goal", "g_b")]["version"]) == (2, 1)
    proc = run_dbt(db, "run")
    assert "migration goal: success processed=3 inserted=0 updated=1 unchanged=2" in proc.stdout
    rows = fetch_sync_data(db)
    assert (rows[("goal", "g_a")]["version"], rows[("goal", "g_b")]["version"]) == (2, 2)
    assert '"title":"B2"' in rows[("goal", "g_b")]["data"]


def test_a_cache_built_before_the_deleted_flag_is_upgraded_in_place(fixture_run):
    # a work file of an earlier version: no backend_deleted column
    db = fixture_run  # load_fixture, then dbt run
    with sqlite3.connect(f"{db}.dbt-work") as conn:
        for table in ("goals", "logbook_entries", "practice_sessions"):
            conn.execute(f"alter table int_{table}_documented drop column backend_deleted")
    with sqlite3.connect(db) as conn:
        conn.execute("delete from goals where id = 'g_b'")
    proc = run_dbt(db, "run")
    assert (
        "migration goal: success processed=3 inserted=0 updated=0 unchanged=2 rejected=0"
        " tombstoned=1" in proc.stdout
    )
    with sqlite3.connect(f"{db}.dbt-work") as conn:
        assert conn.execute(
            "select entity_id, backend_deleted from int_goals_documented order by 1"
        ).fetchall() == [("g_a", 0), ("g_c", 0)]
    assert run_dbt(db, "run").stdout.count("inserted=0 updated=0") == 3


def test_a_cache_of_text_documents_is_read_then_repacked(fixture_run):
    """A work file written before the cache packed its documents holds
    text: the merge reads it as it is (a row deleted by hand comes back from
    it, byte for byte), and the next rebuild stores every row packed."""
    db = fixture_run  # load_fixture, then dbt run
    tables = ("goals", "logbook_entries", "practice_sessions")
    before = fetch_sync_data(db)
    conn = sqlite3.connect(f"{db}.dbt-work")
    conn.enable_load_extension(True)
    conn.load_extension(str(JS_JSON_EXT))
    with conn:
        for table in tables:
            # the fingerprint stays valid, so nothing is rebuilt
            conn.execute(
                f"update int_{table}_documented"
                " set data = doc_unpack(data), checksum = hex_text(checksum)"
            )
    with sqlite3.connect(db) as main:
        main.execute("delete from sync_data where entity_id = 'g_b'")
    proc = run_dbt(db, "run")
    assert "migration goal: success processed=3 inserted=1 updated=0 unchanged=2" in proc.stdout
    assert proc.stdout.count("inserted=0 updated=0") == 2
    after = fetch_sync_data(db)
    for key in ("data", "checksum"):
        assert after[("goal", "g_b")][key] == before[("goal", "g_b")][key]
    assert {k: v for k, v in after.items() if k != ("goal", "g_b")} == {
        k: v for k, v in before.items() if k != ("goal", "g_b")
    }
    with conn:
        for table in tables:
            # as an older version's fingerprint: text, so every row is rebuilt
            conn.execute(
                f"update int_{table}_documented set source_fingerprint = hex(source_fingerprint)"
            )
    proc = run_dbt(db, "run")
    assert proc.stdout.count("inserted=0 updated=0") == 3
    with conn:
        for table in tables:
            assert conn.execute(
                "select distinct typeof(data), typeof(checksum), typeof(source_fingerprint)"
                f" from int_{table}_documented where reject_reason is null"
            ).fetchall() == [("blob", "blob", "blob")]
    assert fetch_sync_data(db)[("goal", "g_b")] == after[("goal", "g_b")]
