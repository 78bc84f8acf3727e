"""The D1 round trip (make d1-pull, d1-migrate, d1-push, d1-sync) against
wrangler's local D1: production's shape, the sample backend, and the API
writing into sync_data between the steps, as it does in production.

The steps under test always reach D1 through wrangler. The tests' own set-up
and read-back (the API's edits, every state asserted) go to the SQLite file in
which workerd keeps the database (LocalD1), wrangler stopped: what is asserted
is what D1 stores, without a wrangler start-up per look.
"""

import hashlib
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_DIR, oracle_for_database
from d1_local import LocalD1, load_sample_backend, pulled_d1, seeded_d1
from production_shape import js_stringify, make_production_shaped_sqlite

SYNC_COLUMNS = (
    "id, user_id, entity_type, entity_id, data, checksum, version, created_at,"
    " deleted_at, device_id, seq"
)
OWN_TABLES = ("migration_ledger", "migration_conflicts", "migration_runs", "migration_rejects")


def make(d1, target, *args, expect_ok=True, **env):
    proc = subprocess.run(
        ["make", "--no-print-directory", target, *args],
        cwd=PROJECT_DIR,
        env=d1.make_env(**env),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if expect_ok and proc.returncode != 0:
        raise AssertionError(f"make {target} failed:\n{proc.stdout}\n{proc.stderr}")
    if not expect_ok and proc.returncode == 0:
        raise AssertionError(f"make {target} succeeded, expected a failure:\n{proc.stdout}")
    return proc


def d1_tool(d1, step, cwd=PROJECT_DIR, **env):
    return subprocess.run(
        [str(PROJECT_DIR / ".venv" / "bin" / "python"), "scripts/d1", step],
        cwd=cwd,
        env=d1.make_env(**env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def new_d1(folder, template_db, prepare=None, persist_to=None, shape="production"):
    """A local D1 holding the sample backend, in production's shape; or with
    seq but no sync_sequence ("no sequence"), or the contract's first shape
    ("original": no seq, no device_id, no script history)."""
    if prepare is None and persist_to is None and shape == "production":
        return seeded_d1(folder, template_db)  # the same D1, loaded once and copied
    Path(folder).mkdir(parents=True, exist_ok=True)
    seed = Path(folder) / "seed.db"
    shutil.copy(template_db, seed)
    if shape != "original":
        make_production_shaped_sqlite(seed, with_sequence_table=shape == "production")
    load_sample_backend(seed)
    if prepare:
        with sqlite3.connect(seed) as conn:
            prepare(conn)
    d1 = LocalD1(Path(folder) / "app", persist_to=persist_to)
    d1.load_sqlite(seed)
    return d1


def state(d1, path):
    """Every table of D1 as rows, through wrangler d1 export."""
    snap = d1.snapshot(path)
    with sqlite3.connect(snap) as conn:
        out = {
            "sync_data": conn.execute(
                f"select {SYNC_COLUMNS} from sync_data order by user_id, entity_type, entity_id"
            ).fetchall(),
            "sync_sequence": conn.execute("select * from sync_sequence").fetchall(),
        }
        for table in OWN_TABLES:
            exists = conn.execute(
                "select count(*) from sqlite_master where name = ?", (table,)
            ).fetchone()[0]
            out[table] = (
                conn.execute(f"select * from {table} order by 1, 2, 3").fetchall()
                if exists
                else None
            )
        for table in ("users", "goals", "logbook_entries", "practice_sessions"):
            out[table] = conn.execute(f"select * from {table} order by id").fetchall()
    return snap, out


def rows_by_key(snap):
    with sqlite3.connect(snap) as conn:
        conn.row_factory = sqlite3.Row
        return {
            (r["entity_type"], r["entity_id"]): dict(r)
            for r in conn.execute("select * from sync_data")
        }


def api_update(d1, entity_type, entity_id, document, device="phone-1"):
    """The API's edit: new data and checksum, version + 1, the next seq."""
    data = js_stringify(document)
    checksum = hashlib.sha256(data.encode()).hexdigest()
    d1.execute(
        "update sync_data set data = '" + data.replace("'", "''") + "',"
        f" checksum = '{checksum}', version = version + 1, device_id = '{device}',"
        " seq = (select current_value + 1 from sync_sequence where id = 1)"
        f" where entity_type = '{entity_type}' and entity_id = '{entity_id}';"
        " update sync_sequence set current_value = current_value + 1 where id = 1;"
    )
    return data, checksum


def claim_copy(copy, d1):
    """Make a copy of another database's pull name d1 as its source, as a
    pull of d1 would have recorded it (for twins that must get one patch)."""
    sys.path.insert(0, str(PROJECT_DIR / "scripts" / "d1"))
    from identity import resolve

    record = resolve(d1.name, str(d1.config), env=d1.env).record()
    snapshot = Path(f"{copy}.pulled.db")
    with sqlite3.connect(snapshot) as conn:
        info = json.loads(conn.execute("select info from pull_info").fetchone()[0])
        conn.execute("update pull_info set info = ?", (json.dumps({**info, "target": record}),))
    manifest_path = Path(f"{copy}.patch") / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["pulled"]["target"] = record
    manifest_path.write_text(json.dumps(manifest))


def api_insert(d1, user_id, entity_type, entity_id, document, device="phone-1"):
    data = js_stringify(document)
    checksum = hashlib.sha256(data.encode()).hexdigest()
    d1.execute(
        "insert into sync_data (id, user_id, entity_type, entity_id, data, checksum, version,"
        " device_id, seq) values ("
        f"'sync_api_{entity_id}', '{user_id}', '{entity_type}', '{entity_id}', '{data}',"
        f" '{checksum}', 1, '{device}', (select current_value + 1 from sync_sequence where id = 1));"
        " update sync_sequence set current_value = current_value + 1 where id = 1;"
    )
    return data


def assert_contract_rows(snap, expected_keys=None):
    """Every live backend row's sync_data row is the oracle's document."""
    expected = oracle_for_database(snap)
    rows = rows_by_key(snap)
    migrated = {k: v for k, v in expected.items() if "reject" not in v}
    if expected_keys is not None:
        migrated = {k: v for k, v in migrated.items() if k in expected_keys}
    for key, document in migrated.items():
        assert rows[key]["data"] == document["data"], key
        assert rows[key]["checksum"] == document["checksum"], key
    return migrated


# --- the weekly round trip with the API writing in between -----------------


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory, template_db):
    folder = tmp_path_factory.mktemp("d1_round_trip")
    d1 = new_d1(folder, template_db)
    out = {"d1": d1}
    out["first"] = make(d1, "d1-sync")
    out["after_first"] = state(d1, folder / "s1.db")
    # the same patch again: every statement's guard finds its work done
    out["repush"] = make(d1, "d1-push")
    out["after_repush"] = state(d1, folder / "s2.db")
    # a backend edit; the migration plans it on the pulled file ...
    d1.execute("update goals set title = 'Clair de Lune, all of it' where id = 'goal_001'")
    d1.execute("update goals set title = 'Sight-read every day' where id = 'goal_005'")
    d1.execute("update goals set deleted_at = '2026-11-20 10:00:00' where id = 'goal_006'")
    make(d1, "d1-pull")
    out["migrate"] = make(d1, "d1-migrate")
    # ... and before the push, the app edits goal_001 and inserts its own row
    out["api_goal_001"] = api_update(d1, "goal", "goal_001", {"id": "goal_001", "title": "mine"})
    out["api_row"] = api_insert(d1, "u_alice", "logbook_entry", "le_phone_1", {"id": "le_phone_1"})
    out["before_push"] = state(d1, folder / "s3.db")
    out["push"] = make(d1, "d1-push")
    out["after_push"] = state(d1, folder / "s4.db")
    # the next weekly run settles goal_001 by the contract: both changed
    out["second"] = make(d1, "d1-sync")
    out["after_second"] = state(d1, folder / "s5.db")
    out["third"] = make(d1, "d1-sync")
    out["after_third"] = state(d1, folder / "s6.db")
    return out


def test_first_sync_leaves_every_contract_row_in_d1(round_trip):
    snap, tables = round_trip["after_first"]
    migrated = assert_contract_rows(snap)
    assert len(migrated) == 54
    rows = rows_by_key(snap)
    assert sorted(r["seq"] for r in rows.values()) == list(range(1, 55))
    assert {r["version"] for r in rows.values()} == {1}
    assert {r["device_id"] for r in rows.values()} == {None}
    assert tables["sync_sequence"] == [(1, 54)]
    assert len(tables["migration_ledger"]) == 54
    # the script's three history rows are kept, upgraded; three runs added
    runs = tables["migration_runs"]
    assert len(runs) == 6
    assert sum(1 for r in runs if r[0].startswith("migration_17000")) == 3
    assert len(tables["migration_rejects"]) == 2
    assert "54 applied, 0 skipped" in round_trip["first"].stdout


def test_first_sync_seq_follows_key_order(round_trip):
    snap, tables = round_trip["after_first"]
    ordered = [row[-1] for row in tables["sync_data"]]
    assert ordered == sorted(ordered)


def test_the_backend_tables_are_never_written(round_trip):
    before = round_trip["after_first"][1]
    after = round_trip["after_repush"][1]
    for table in ("users", "goals", "logbook_entries", "practice_sessions"):
        assert after[table] == before[table]


def test_pushing_the_same_patch_again_changes_nothing(round_trip):
    before = round_trip["after_first"][1]
    after = round_trip["after_repush"][1]
    assert after == before
    assert "54 applied, 0 skipped, 0 not applied" in round_trip["repush"].stdout


def test_the_patch_of_a_backend_edit_names_only_the_edited_rows(round_trip):
    assert (
        "sync_data 0 insert(s), 3 update(s) (of which 1 tombstone(s), 0 revival(s))"
        in round_trip["migrate"].stdout
    )


def test_an_api_write_between_migrate_and_push_survives_and_is_reported(round_trip):
    snap, _ = round_trip["after_push"]
    rows = rows_by_key(snap)
    data, checksum = round_trip["api_goal_001"]
    assert rows[("goal", "goal_001")]["data"] == data
    assert rows[("goal", "goal_001")]["checksum"] == checksum
    assert rows[("goal", "goal_001")]["device_id"] == "phone-1"
    out = round_trip["push"].stdout
    assert "2 applied, 1 skipped" in out
    assert "skipped, changed in D1 since the pull: u_alice/goal/goal_001" in out
    # its ledger entry did not move; goal_005's did
    ledger = {(r[1], r[2]): r for r in round_trip["after_push"][1]["migration_ledger"]}
    before = {(r[1], r[2]): r for r in round_trip["after_first"][1]["migration_ledger"]}
    assert ledger[("goal", "goal_001")] == before[("goal", "goal_001")]
    assert ledger[("goal", "goal_005")][3] == rows[("goal", "goal_005")]["checksum"]
    assert ledger[("goal", "goal_005")][3] != before[("goal", "goal_005")][3]


def test_the_push_takes_seq_from_d1_at_push_time(round_trip):
    before = rows_by_key(round_trip["before_push"][0])
    after = rows_by_key(round_trip["after_push"][0])
    # the API took 55 (goal_001) and 56 (its own row) after the pull
    assert before[("goal", "goal_001")]["seq"] == 55
    assert before[("logbook_entry", "le_phone_1")]["seq"] == 56
    assert after[("goal", "goal_005")]["seq"] == 57
    assert after[("goal", "goal_005")]["version"] == 2
    # the backend's soft delete: a tombstone, data kept, the next number
    tombstone, was = after[("goal", "goal_006")], before[("goal", "goal_006")]
    assert (tombstone["seq"], tombstone["version"]) == (58, 2)
    assert tombstone["deleted_at"] is not None and was["deleted_at"] is None
    assert tombstone["data"] == was["data"]
    assert round_trip["after_push"][1]["sync_sequence"] == [(1, 58)]
    seqs = [r["seq"] for r in after.values()]
    assert len(seqs) == len(set(seqs))


def test_the_next_sync_settles_the_skipped_row_by_the_contract(round_trip):
    snap, tables = round_trip["after_second"]
    rows = rows_by_key(snap)
    expected = oracle_for_database(snap)
    # both changed: backend_wins writes the backend's document, keeps the app's
    assert rows[("goal", "goal_001")]["data"] == expected[("goal", "goal_001")]["data"]
    assert rows[("goal", "goal_001")]["version"] == 3
    assert rows[("goal", "goal_001")]["seq"] == 59
    assert rows[("goal", "goal_001")]["device_id"] is None
    conflicts = tables["migration_conflicts"]
    assert [(c[1], c[2], c[3], c[4], c[9], c[10]) for c in conflicts] == [
        ("goal", "goal_001", "both_changed", "backend_wins", "api", round_trip["api_goal_001"][0]),
    ]
    # the app's own row is never touched
    assert rows[("logbook_entry", "le_phone_1")]["data"] == round_trip["api_row"]
    assert tables["sync_sequence"] == [(1, 59)]
    assert_contract_rows(snap)


def test_a_sync_with_nothing_changed_writes_no_row(round_trip):
    before = round_trip["after_second"][1]
    after = round_trip["after_third"][1]
    assert after["sync_data"] == before["sync_data"]
    assert after["migration_ledger"] == before["migration_ledger"]
    assert after["sync_sequence"] == before["sync_sequence"]
    assert "sync_data 0 insert(s), 0 update(s)" in round_trip["third"].stdout
    assert len(after["migration_runs"]) == len(before["migration_runs"]) + 3


# --- a push cut off halfway -------------------------------------------------


def test_a_push_cut_off_halfway_then_pushed_again_converges(tmp_path, template_db):
    """Two identical D1s get the same patch: one in one push, the other only
    its first part (the cut), then the whole push again. Both end equal."""
    whole = new_d1(tmp_path / "whole", template_db)
    cut = pulled_d1(tmp_path / "cut", template_db)  # after make d1-pull
    small_parts = {"D1_PART_BYTES": 10_000}
    migrated = make(cut, "d1-migrate", **small_parts)
    patch = Path(cut.make_env()["D1_FILE"] + ".patch")
    parts = json.loads((patch / "manifest.json").read_text())["parts"]
    assert len(parts) >= 5, migrated.stdout
    # the same patch for the twin: same pull, same run
    twin_patch = Path(whole.make_env()["D1_FILE"] + ".patch")
    shutil.copytree(Path(cut.make_env()["D1_FILE"]).parent, twin_patch.parent)
    # the twin is another database: its copy says so, or the push refuses it
    claim_copy(twin_patch.parent / "practice.db", whole)
    cut.execute_file(patch / parts[0])
    cut.execute_file(patch / parts[1])
    resumed = make(cut, "d1-push")
    make(whole, "d1-push")
    assert "54 applied, 0 skipped, 0 not applied" in resumed.stdout
    _, cut_state = state(cut, tmp_path / "cut.db")
    _, whole_state = state(whole, tmp_path / "whole.db")
    # each history names the database it reached; otherwise they are equal
    for twin in (cut_state, whole_state):
        twin["migration_runs"] = [
            tuple("d1" if str(v).startswith("d1 local practice [") else v for v in row)
            for row in twin["migration_runs"]
        ]
    assert cut_state == whole_state
    assert cut_state["sync_sequence"] == [(1, 54)]
    assert sorted(r[-1] for r in cut_state["sync_data"]) == list(range(1, 55))


# --- values the export cannot carry, and a document of 1.5 MB ---------------

BIG_PIECE = "Lágrima — “éè” \\ ünïcödé 🎸 " * 1500  # 64,500 bytes of UTF-8
# plain text (it goes quoted, not as hex) that SQL splitters trip over
SPLITTER_BAIT = 'it\'s; -- not a comment /* nor this */ $$ $tag$ "quoted" Begin Commit;'
TRICKY = "C:\\new folder\nsecond line \\n not a newline\r\n"


def test_a_large_document_and_values_the_export_alters_arrive_byte_exact(tmp_path, template_db):
    def prepare(conn):
        conn.execute("update goals set description = ? where id = 'goal_002'", (TRICKY,))
        conn.execute("update goals set description = '' where id = 'goal_003'")
        conn.execute("update goals set title = ? where id = 'goal_004'", (SPLITTER_BAIT,))

    d1 = new_d1(tmp_path, template_db, prepare)
    # D1 takes no statement over 100 KB: the 1.5 MB value is grown in pieces
    pieces = ";\n".join(
        "update goals set description = description || '" + BIG_PIECE + "' where id = 'goal_003'"
        for _ in range(24)
    )
    d1.execute(pieces)
    seed = tmp_path / "seed.db"
    with sqlite3.connect(seed) as conn:
        conn.execute("update goals set description = ? where id = 'goal_003'", (BIG_PIECE * 24,))
    pulled = make(d1, "d1-pull")
    assert "1 value(s) the export altered, read again from D1" in pulled.stdout
    with sqlite3.connect(d1.make_env()["D1_FILE"]) as conn:
        assert conn.execute("select description from goals where id = 'goal_002'").fetchone() == (
            TRICKY,
        )
    # small parts: a part boundary falls among the pieces of the long value,
    # which must travel in the part of the row that reads them
    make(d1, "d1-migrate", D1_PART_BYTES=10_000)
    pushed = make(d1, "d1-push")
    assert "54 applied, 0 skipped, 0 not applied" in pushed.stdout
    expected = oracle_for_database(seed)
    # read through execute, as hex in slices (D1 makes no value over 2 MB),
    # not through the export, which alters TRICKY itself
    slices = ", ".join(
        f"hex(substr(cast(data as blob), {start}, 500000)) as s{start}"
        for start in range(1, 2_000_000, 500000)
    )
    rows = d1.rows(
        f"select entity_id, checksum, {slices} from sync_data"
        " where entity_id in ('goal_002', 'goal_003', 'goal_004')"
    )
    for row in rows:
        doc = expected[("goal", row["entity_id"])]
        data = b"".join(bytes.fromhex(v) for k, v in row.items() if k.startswith("s"))
        assert data.decode() == doc["data"]
        assert row["checksum"] == doc["checksum"]
    assert len(rows) == 3
    assert SPLITTER_BAIT.replace('"', '\\"') in expected[("goal", "goal_004")]["data"]
    assert len(expected[("goal", "goal_003")]["data"].encode()) > 1_500_000
    assert d1.rows("select count(*) as n from migration_push_pieces") == [{"n": 0}]


# --- failures that must change nothing --------------------------------------


def test_a_d1_database_without_the_backend_tables_is_refused(tmp_path):
    d1 = LocalD1(tmp_path / "app")
    d1.execute("create table sync_data (id text primary key, user_id text)")
    proc = make(d1, "d1-pull", expect_ok=False)
    assert "has no users, logbook_entries, goals, practice_sessions" in proc.stderr
    assert "Nothing was pulled" in proc.stderr
    assert not Path(d1.make_env()["D1_FILE"]).exists()


def test_a_wrong_database_name_or_config_is_refused(tmp_path, template_db):
    d1 = new_d1(tmp_path, template_db)
    wrong_name = make(d1, "d1-pull", expect_ok=False, D1_DATABASE="practise")
    assert "D1_DATABASE=practise is not declared at its top level in" in wrong_name.stderr
    assert "(declared: practice (binding DB))" in wrong_name.stderr
    missing = make(d1, "d1-pull", expect_ok=False, WRANGLER_CONFIG=str(tmp_path / "nope.toml"))
    assert f"the wrangler config {tmp_path / 'nope.toml'} does not exist" in missing.stderr
    push = make(d1, "d1-push", expect_ok=False)
    assert "no patch in" in push.stderr
    assert not Path(d1.make_env()["D1_FILE"]).exists()
    assert d1.rows("select count(*) as n from sync_data") == [{"n": 0}]


def test_without_wrangler_the_d1_steps_say_how_to_install_it(tmp_path, project_copy):
    d1 = LocalD1(tmp_path / "app")
    (project_copy / "node_modules").unlink()
    proc = d1_tool(d1, "pull", cwd=project_copy)
    assert proc.returncode == 1
    assert "wrangler is not installed" in proc.stderr
    assert "run `make setup`" in proc.stderr


def test_a_patch_is_only_pushed_to_the_database_it_was_pulled_from(tmp_path, template_db):
    d1 = new_d1(tmp_path / "one", template_db)
    make(d1, "d1-pull")
    make(d1, "d1-migrate")
    proc = make(d1, "d1-push", expect_ok=False, D1_REMOTE="1")
    assert "was pulled from local D1 database practice [" in proc.stderr
    assert "not from remote D1 database practice [" in proc.stderr
    assert d1.rows("select count(*) as n from sync_data") == [{"n": 0}]


# --- filters and the dry run ------------------------------------------------


def test_dry_runs_write_nothing_to_d1(tmp_path, template_db):
    d1 = pulled_d1(tmp_path, template_db)  # after make d1-pull
    _, before = state(d1, tmp_path / "before.db")
    planned = make(d1, "d1-migrate", DRY_RUN="1")
    assert "dry run" in planned.stdout.lower()
    assert not Path(d1.make_env()["D1_FILE"] + ".patch").exists()
    synced = make(d1, "d1-sync", DRY_RUN="1")
    assert "sync_data 54 insert(s)" in synced.stdout
    # the document diff of both: every row an insert, one group per entity type
    for proc in (planned, synced):
        groups = re.findall(r"\n\S* *  (\w+) (\w+) — (\d+) row\(s\), e\.g\. ", proc.stdout)
        assert sorted(groups) == [
            ("goal", "insert", "12"),
            ("logbook_entry", "insert", "30"),
            ("practice_session", "insert", "12"),
        ], proc.stdout
    assert "DRY_RUN: nothing pushed" in synced.stdout
    _, after = state(d1, tmp_path / "after.db")
    assert after == before


def test_filters_reach_d1_through_the_d1_commands(tmp_path, template_db):
    d1 = new_d1(tmp_path, template_db)
    make(d1, "d1-sync", USER_ID="u_bruno", ENTITIES="goal,practice_session")
    snap, tables = state(d1, tmp_path / "after.db")
    keys = {(r[2], r[3]) for r in tables["sync_data"]}
    expected = {
        (k[0], k[1])
        for k, v in oracle_for_database(snap).items()
        if "reject" not in v and k[0] in ("goal", "practice_session")
    }
    with sqlite3.connect(snap) as conn:
        bruno = {
            (t, i)
            for t, table in (("goal", "goals"), ("practice_session", "practice_sessions"))
            for (i,) in conn.execute(f"select id from {table} where user_id = 'u_bruno'")
        }
    assert keys == expected & bruno
    assert keys
    assert {r[1] for r in tables["sync_data"]} == {"u_bruno"}
    assert_contract_rows(snap, expected_keys=keys)


def test_a_local_d1_kept_elsewhere_is_reached_through_d1_persist_to(tmp_path, template_db):
    """d1 export has no --persist-to: the pull still reads the chosen state."""
    d1 = new_d1(tmp_path, template_db, persist_to=tmp_path / "state")
    synced = make(d1, "d1-sync", ENTITIES="practice_session")
    assert "sync_data 12 insert(s)" in synced.stdout
    assert d1.rows("select count(*) as n, max(seq) as top from sync_data") == [{"n": 12, "top": 12}]
    assert not (d1.folder / ".wrangler").exists()


@pytest.mark.parametrize("shape", ["no sequence", "original"])
def test_older_shapes_of_d1(tmp_path, template_db, shape):
    d1 = new_d1(tmp_path, template_db, shape=shape)
    make(d1, "d1-sync", ENTITIES="goal")
    tables = {r["name"] for r in d1.rows("select name from sqlite_master where type = 'table'")}
    if shape == "original":
        assert "sync_sequence" not in tables
        rows = d1.rows("select count(*) as n from sync_data")
        assert rows == [{"n": 12}]
    else:
        # created by the push from D1's largest seq, then moved on by the writes
        assert d1.rows("select * from sync_sequence") == [{"id": 1, "current_value": 12}]
        assert d1.rows("select min(seq) as low, max(seq) as top from sync_data") == [
            {"low": 1, "top": 12}
        ]
    assert {"migration_ledger", "migration_runs", "migration_rejects"} <= tables
    again = make(d1, "d1-sync", ENTITIES="goal")
    assert "sync_data 0 insert(s), 0 update(s)" in again.stdout
