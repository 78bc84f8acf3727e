"""Production as it is now (issue 15): seq and sync_sequence, the backend's
soft deletes, the API's own rows and edits, the ownership ledger, conflicts,
rollback of owned rows only, and the cutover from the old script.

One scenario per engine plays every row of the contract's table "Which rows
the migration may change" at once, one goal per situation, over three runs:
run 1 takes ownership (inserts, adoptions), then the backend and the API
change things, run 2 meets each situation, run 3 has nothing to do. Each
test below asserts one row of the table on the snapshots of those runs.
"""

import hashlib
import json
import shutil
import sqlite3
import subprocess
import threading
import time

import pytest
from conftest import BACKEND_COLUMNS, PROJECT_DIR, oracle, run_dbt
from pg import PostgresSchema
from production_shape import (
    SCRIPT_HISTORY,
    SCRIPT_README_QUERIES,
    api_insert,
    api_soft_delete,
    api_update,
    js_stringify,
    make_production_shaped_postgres,
    make_production_shaped_sqlite,
    seq_invariants,
)

USER = "u_prod"
OTHER_USER = "u_other"
T0 = 1700000000000
T1 = 1700000600000
BUILD = ("build", "--exclude-resource-type", "unit_test")
GOAL_COLUMNS = BACKEND_COLUMNS["goals"]


class Target:
    """One production-shaped database, SQLite or PostgreSQL, with the same
    small API: dbt, SQL with `?` parameters and {t} for a table's schema, and
    the API's writes."""

    def __init__(self, engine, tmp_path, template_db):
        self.engine = engine
        if engine == "sqlite":
            self.path = tmp_path / "prod.db"
            shutil.copy(template_db, self.path)
            make_production_shaped_sqlite(self.path)
            self.schema = None
        else:
            self.pg = PostgresSchema(tmp_path)
            make_production_shaped_postgres(self.pg)
            self.schema = self.pg.schema

    def dbt(self, *args, expect_ok=True):
        if self.engine == "sqlite":
            return run_dbt(self.path, *args, "--target", "prod", expect_ok=expect_ok)
        return self.pg.dbt(*args, expect_ok=expect_ok)

    def make_or_dbt(self, make_target, *dbt_args):
        """The make target on SQLite (make reads SQLite files), else dbt."""
        if self.engine == "postgres":
            return self.dbt(*dbt_args)
        proc = subprocess.run(
            ["make", make_target, "TARGET=prod", f"SYNC_DB_PATH={self.path}"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def _sql(self, sql):
        prefix = "main." if self.engine == "sqlite" else f"{self.schema}."
        sql = sql.replace("{t}", prefix)
        return sql.replace("?", "%s") if self.engine == "postgres" else sql

    def execute(self, sql, params=()):
        if self.engine == "sqlite":
            with sqlite3.connect(self.path) as conn:
                conn.execute(self._sql(sql), params)
        else:
            self.pg.execute(self._sql(sql), params)

    def query(self, sql, params=()):
        if self.engine == "sqlite":
            with sqlite3.connect(self.path) as conn:
                conn.row_factory = sqlite3.Row
                return [dict(row) for row in conn.execute(self._sql(sql), params)]
        return self.pg.query(self._sql(sql), params)

    def api(self, write, *args):
        if self.engine == "sqlite":
            conn = sqlite3.connect(self.path)
            try:
                return write(conn, "sqlite", *args)
            finally:
                conn.close()
        return write(self.pg.conn, "postgres", *args, schema=self.schema)

    def seq_problems(self):
        if self.engine == "sqlite":
            conn = sqlite3.connect(self.path)
            try:
                return seq_invariants(conn, "sqlite")
            finally:
                conn.close()
        return seq_invariants(self.pg.conn, "postgres", schema=self.schema)

    def snapshot(self):
        """Everything a test asserts on, with times as text."""
        rows = self.query("select * from {t}sync_data")
        return {
            "history_rows": self.query("select count(*) as n from {t}migration_runs")[0]["n"],
            "sync_data": {(r["entity_type"], r["entity_id"]): _plain(r) for r in rows},
            "ledger": {
                (r["entity_type"], r["entity_id"]): _plain(r)
                for r in self.query("select * from {t}migration_ledger")
            }
            if self._has_table("migration_ledger")
            else {},
            "conflicts": [
                _plain(r)
                for r in self.query(
                    "select * from {t}migration_conflicts order by entity_id, first_run_id"
                )
            ]
            if self._has_table("migration_conflicts")
            else [],
            "sequence": self.query("select current_value from {t}sync_sequence")[0][
                "current_value"
            ],
            "runs": self.query(
                "select * from {t}migration_runs where run_id ="
                " (select run_id from {t}migration_runs where target_name != 'old script'"
                " order by completed_at desc, id desc limit 1)"
                " order by entity_type"
            )
            if self._has_column("migration_runs", "run_id")
            else [],
        }

    def _has_column(self, table, column):
        if self.engine == "sqlite":
            found = self.query(
                f"select name from pragma_table_info('{table}') where name = ?", (column,)
            )
        else:
            found = self.query(
                "select column_name from information_schema.columns"
                " where table_schema = ? and table_name = ? and column_name = ?",
                (self.schema, table, column),
            )
        return bool(found)

    def _has_table(self, name):
        if self.engine == "sqlite":
            found = self.query("select name from sqlite_master where name = ?", (name,))
        else:
            found = self.query(
                "select table_name as name from information_schema.tables"
                " where table_schema = ? and table_name = ?",
                (self.schema, name),
            )
        return bool(found)

    def close(self):
        if self.engine == "postgres":
            self.pg.close()


def _plain(row):
    return {k: (str(v) if hasattr(v, "isoformat") else v) for k, v in row.items()}


def goal(goal_id, title, updated_at=T0, deleted_at=None, user_id=USER, milestones="[]"):
    return {
        "id": goal_id,
        "user_id": user_id,
        "title": title,
        "description": None,
        "target_date": None,
        "progress": 0,
        "milestones": milestones,
        "status": "ACTIVE",
        "linked_entries": "[]",
        "created_at": T0,
        "updated_at": updated_at,
        "completed_at": None,
        "deleted_at": deleted_at,
    }


def document(row):
    """The contract's document and checksum of a goal row, from the JavaScript oracle."""
    [made] = oracle(
        [
            {
                "entity_type": "goal",
                "row": {c: row[c] for c in GOAL_COLUMNS},
                "user_exists": True,
            }
        ]
    )
    return made["data"], made["checksum"]


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def insert_goal(target, row):
    columns = [*GOAL_COLUMNS, "deleted_at"]
    target.execute(
        f"insert into {{t}}goals ({', '.join(columns)}) values ({', '.join('?' * len(columns))})",
        [row[c] for c in columns],
    )


def script_row(target, row, data=None, seq=None):
    """A sync_data row as the old script (or an earlier API) left it."""
    data = data if data is not None else document(row)[0]
    target.execute(
        "insert into {t}sync_data (id, user_id, entity_type, entity_id, data, checksum,"
        " version, created_at, updated_at, seq) values (?, ?, 'goal', ?, ?, ?, 1,"
        " '2023-11-14 22:13:20', '2023-11-14 22:13:20', ?)",
        (f"sync_script_{row['id']}", row["user_id"], row["id"], data, sha(data), seq),
    )


# The situations, one goal each: id -> the contract's row it plays.
SITUATIONS = {
    "g_insert": "no A, backend row live: insert",
    "g_adopt": "A, no ledger entry, same checksum: adopt",
    "g_unknown": "A, no ledger entry, checksums differ: unknown_origin",
    "g_nothing": "A = L, S = L: nothing",
    "g_backend": "A = L, S != L: update",
    "g_api": "A != L, S = L: keep the API's edit",
    "g_both": "A != L, S != L, S != A: both_changed",
    "g_soft": "backend soft-deleted, A = L: tombstone",
    "g_hard": "backend row gone, A = L: tombstone",
    "g_deleted_api": "backend deleted, A changed by the API: deleted_in_backend",
    "g_revive": "backend row live again after a tombstone: revive",
    "g_reject": "backend row rejected: A left as it is",
    "g_adopt_gone": "script's row of a backend row deleted since: adopted, then tombstoned",
    "g_app_delete": "A soft-deleted in the app, backend unchanged: the deletion stays",
}


def play_scenario(target, on_conflict="backend_wins", compare="all", command=BUILD, dry=True):
    """Runs 1-3 of the module docstring; returns their snapshots and outputs."""
    target.execute(
        "insert into {t}users (id, email) values (?, 'prod@example.com'), (?, 'o@example.com')",
        (USER, OTHER_USER),
    )
    rows = {
        goal_id: goal(goal_id, f"title of {goal_id}")
        for goal_id in SITUATIONS
        if goal_id != "g_insert"
    }
    rows["g_revive"]["user_id"] = OTHER_USER
    rows["g_adopt_gone"]["deleted_at"] = "2024-01-01 00:00:00"
    for row in rows.values():
        insert_goal(target, row)
    # what was in sync_data before the first run: the script's rows (seq from
    # the API's backfill), a row someone else wrote under a backend key, and a
    # device's push of a goal the backend never had
    script_row(target, rows["g_adopt"], seq=1)
    script_row(target, rows["g_adopt_gone"], seq=2)
    script_row(target, rows["g_unknown"], data='{"id":"g_unknown","title":"from a device"}', seq=3)
    target.execute("update {t}sync_sequence set current_value = 3")
    api_seq = target.api(api_insert, USER, "goal", "g_device", js_stringify({"id": "g_device"}))
    before = target.snapshot()
    run1 = target.dbt(*command, "--vars", f"{{on_conflict: {on_conflict}, compare: {compare}}}")
    after1 = target.snapshot()

    # between the runs: the backend and the API change things
    new_insert = goal("g_insert", "new in the backend")
    insert_goal(target, new_insert)
    rows["g_insert"] = new_insert
    for goal_id in ["g_backend", "g_both", "g_deleted_api"]:
        target.execute(
            "update {t}goals set title = ?, updated_at = ? where id = ?",
            (f"backend edit of {goal_id}", T1, goal_id),
        )
    for goal_id in ["g_api", "g_both", "g_deleted_api"]:
        target.api(api_update, USER, "goal", goal_id, f'{{"id":"{goal_id}","by":"app"}}')
    target.execute(
        "update {t}goals set deleted_at = '2024-02-01 10:00:00' where id in (?, ?)",
        ("g_soft", "g_deleted_api"),
    )
    target.execute("delete from {t}goals where id = ?", ("g_hard",))
    target.execute("update {t}goals set milestones = '{not json' where id = ?", ("g_reject",))
    target.api(api_soft_delete, USER, "goal", "g_app_delete")
    # g_revive (the other user's): deleted in the backend, tombstoned by a run
    # of that user only, then live again
    target.execute(
        "update {t}goals set deleted_at = '2024-02-01 10:00:00' where id = ?", ("g_revive",)
    )
    before_tombstone = target.snapshot()
    tombstoning = target.dbt(*command, "--vars", f"{{user_id: {OTHER_USER}, compare: {compare}}}")
    after_tombstone = target.snapshot()
    target.execute("update {t}goals set deleted_at = null where id = ?", ("g_revive",))
    before2 = target.snapshot()
    if dry:
        dry = target.dbt("run", "--vars", f"{{dry_run: true, on_conflict: {on_conflict}}}")
    after_dry = target.snapshot()
    run2 = target.dbt(*command, "--vars", f"{{on_conflict: {on_conflict}, compare: {compare}}}")
    after2 = target.snapshot()
    run3 = target.dbt(*command, "--vars", f"{{on_conflict: {on_conflict}, compare: {compare}}}")
    after3 = target.snapshot()
    return {
        "rows": rows,
        "api_seq": api_seq,
        "before": before,
        "after1": after1,
        "before_tombstone": before_tombstone,
        "after_tombstone": after_tombstone,
        "before2": before2,
        "after_dry": after_dry,
        "dry_output": dry.stdout if dry else None,
        "after2": after2,
        "after3": after3,
        "outputs": [run1.stdout, tombstoning.stdout, run2.stdout, run3.stdout],
    }


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def scenario(request, tmp_path_factory, template_db):
    target = Target(request.param, tmp_path_factory.mktemp(request.param), template_db)
    try:
        played = play_scenario(target)
        played["target"] = target
        yield played
    finally:
        target.close()


def written_in(before, after):
    """The keys whose row a run wrote (version changed or new)."""
    return {
        key
        for key, row in after["sync_data"].items()
        if key not in before["sync_data"] or before["sync_data"][key]["version"] != row["version"]
    }


def g(snapshot, goal_id):
    return snapshot["sync_data"][("goal", goal_id)]


def test_insert_takes_version_1_a_fresh_seq_and_a_ledger_entry(scenario):
    row = g(scenario["after2"], "g_insert")
    data, checksum = document(scenario["rows"]["g_insert"])
    top_before = max(r["seq"] or 0 for r in scenario["before2"]["sync_data"].values())
    assert (row["data"], row["checksum"], row["version"]) == (data, checksum, 1)
    assert row["seq"] > top_before and row["device_id"] is None and row["deleted_at"] is None
    ledger = scenario["after2"]["ledger"][("goal", "g_insert")]
    assert (ledger["checksum"], ledger["backend_deleted"]) == (checksum, 0)


def test_adopt_a_row_the_script_got_right_without_writing_it(scenario):
    before, after = g(scenario["before"], "g_adopt"), g(scenario["after1"], "g_adopt")
    assert after == before and after["seq"] == 1 and after["version"] == 1
    ledger = scenario["after1"]["ledger"][("goal", "g_adopt")]
    assert ledger["checksum"] == before["checksum"] and ledger["backend_deleted"] == 0
    assert g(scenario["after3"], "g_adopt") == before


def test_unknown_origin_conflict_backend_wins_and_the_lost_document_is_kept(scenario):
    row = g(scenario["after1"], "g_unknown")
    data, checksum = document(scenario["rows"]["g_unknown"])
    assert (row["data"], row["checksum"], row["version"]) == (data, checksum, 2)
    assert row["seq"] > scenario["before"]["sequence"]
    [conflict] = [c for c in scenario["after3"]["conflicts"] if c["entity_id"] == "g_unknown"]
    lost = '{"id":"g_unknown","title":"from a device"}'
    assert conflict["kind"] == "unknown_origin" and conflict["resolution"] == "backend_wins"
    assert (conflict["lost_side"], conflict["lost_document"]) == ("api", lost)
    assert (conflict["api_checksum"], conflict["backend_checksum"]) == (sha(lost), checksum)
    assert conflict["times_seen"] == 1


def test_unchanged_owned_row_is_not_touched(scenario):
    assert g(scenario["after2"], "g_nothing") == g(scenario["before2"], "g_nothing")
    assert g(scenario["after1"], "g_nothing")["version"] == 1


def test_backend_change_updates_with_version_plus_one_and_a_new_seq(scenario):
    row = g(scenario["after2"], "g_backend")
    edited = {
        **scenario["rows"]["g_backend"],
        "title": "backend edit of g_backend",
        "updated_at": T1,
    }
    data, checksum = document(edited)
    assert (row["data"], row["checksum"], row["version"], row["deleted_at"]) == (
        data,
        checksum,
        2,
        None,
    )
    assert row["seq"] > g(scenario["before2"], "g_backend")["seq"]
    assert scenario["after2"]["ledger"][("goal", "g_backend")]["checksum"] == checksum


def test_an_api_edit_is_kept_never_reverted(scenario):
    before = g(scenario["before2"], "g_api")
    assert before["data"] == '{"id":"g_api","by":"app"}' and before["version"] == 2
    assert g(scenario["after2"], "g_api") == before
    assert g(scenario["after3"], "g_api") == before


def test_both_changed_conflict_backend_wins_keeps_the_apps_document(scenario):
    row = g(scenario["after2"], "g_both")
    edited = {**scenario["rows"]["g_both"], "title": "backend edit of g_both", "updated_at": T1}
    data, checksum = document(edited)
    assert (row["data"], row["version"]) == (data, 3)
    [conflict] = [c for c in scenario["after3"]["conflicts"] if c["entity_id"] == "g_both"]
    assert (conflict["kind"], conflict["resolution"]) == ("both_changed", "backend_wins")
    assert conflict["lost_document"] == '{"id":"g_both","by":"app"}'
    assert conflict["ledger_checksum"] == document(scenario["rows"]["g_both"])[1]


def test_soft_deleted_backend_row_is_tombstoned_with_its_data(scenario):
    before, row = g(scenario["before2"], "g_soft"), g(scenario["after2"], "g_soft")
    assert row["deleted_at"] is not None and row["version"] == 2
    assert (row["data"], row["checksum"]) == (before["data"], before["checksum"])
    assert row["seq"] > before["seq"]
    ledger = scenario["after2"]["ledger"][("goal", "g_soft")]
    assert (ledger["checksum"], ledger["backend_deleted"]) == (before["checksum"], 1)


def test_hard_deleted_backend_row_is_tombstoned(scenario):
    before, row = g(scenario["before2"], "g_hard"), g(scenario["after2"], "g_hard")
    assert row["deleted_at"] is not None and row["version"] == 2 and row["data"] == before["data"]
    assert scenario["after2"]["ledger"][("goal", "g_hard")]["backend_deleted"] == 1


def test_deleted_in_backend_conflict_tombstones_and_keeps_the_apps_document(scenario):
    row = g(scenario["after2"], "g_deleted_api")
    app_document = '{"id":"g_deleted_api","by":"app"}'
    assert (row["data"], row["version"]) == (app_document, 3)
    assert row["deleted_at"] is not None
    [conflict] = [c for c in scenario["after3"]["conflicts"] if c["entity_id"] == "g_deleted_api"]
    assert (conflict["kind"], conflict["backend_state"]) == ("deleted_in_backend", "deleted")
    assert conflict["lost_document"] == app_document


def test_revive_after_a_tombstone(scenario):
    tombstoned = g(scenario["after_tombstone"], "g_revive")
    assert tombstoned["deleted_at"] is not None and tombstoned["version"] == 2
    row = g(scenario["after2"], "g_revive")
    data, checksum = document(scenario["rows"]["g_revive"])
    assert (row["data"], row["checksum"], row["version"], row["deleted_at"]) == (
        data,
        checksum,
        3,
        None,
    )
    assert row["seq"] > tombstoned["seq"]
    assert scenario["after2"]["ledger"][("goal", "g_revive")]["backend_deleted"] == 0


def test_the_users_filter_tombstoned_only_that_users_rows(scenario):
    before, after = scenario["before_tombstone"], scenario["after_tombstone"]
    assert written_in(before, after) == {("goal", "g_revive")}
    assert after["ledger"] == {
        **before["ledger"],
        ("goal", "g_revive"): after["ledger"][("goal", "g_revive")],
    }


def test_rejected_backend_row_leaves_its_row_as_it_is(scenario):
    assert g(scenario["after2"], "g_reject") == g(scenario["before2"], "g_reject")
    rejects = scenario["target"].query("select entity_id, reason from {t}migration_rejects")
    assert {"entity_id": "g_reject", "reason": "invalid_json: milestones: not valid JSON"} in [
        {"entity_id": r["entity_id"], "reason": r["reason"]} for r in rejects
    ]


def test_script_row_of_a_deleted_backend_row_is_adopted_then_tombstoned(scenario):
    before, row = g(scenario["before"], "g_adopt_gone"), g(scenario["after1"], "g_adopt_gone")
    assert (row["data"], row["version"]) == (before["data"], 2) and row["deleted_at"] is not None
    ledger = scenario["after1"]["ledger"][("goal", "g_adopt_gone")]
    assert (ledger["checksum"], ledger["backend_deleted"]) == (before["checksum"], 1)


def test_a_deletion_in_the_app_stays(scenario):
    before = g(scenario["before2"], "g_app_delete")
    assert before["deleted_at"] is not None and before["version"] == 2
    assert g(scenario["after2"], "g_app_delete") == before


def test_the_apis_own_rows_are_never_touched(scenario):
    device = g(scenario["before"], "g_device")
    assert device["seq"] == scenario["api_seq"] and device["device_id"] == "device-1"
    for snapshot in ["after1", "after2", "after3"]:
        assert g(scenario[snapshot], "g_device") == device
        assert ("goal", "g_device") not in scenario[snapshot]["ledger"]
    assert "api rows goal: 1 sync_data row(s)" in scenario["outputs"][2]


def test_each_run_numbers_its_writes_above_every_earlier_seq(scenario):
    pairs = [("before", "after1"), ("before2", "after2"), ("after2", "after3")]
    for before_name, after_name in pairs:
        before, after = scenario[before_name], scenario[after_name]
        top = max(r["seq"] or 0 for r in before["sync_data"].values())
        written = written_in(before, after)
        for key, row in after["sync_data"].items():
            if key in written:
                assert row["seq"] > top, (after_name, key)
            else:
                assert row == before["sync_data"][key], (after_name, key)
        seqs = [r["seq"] for r in after["sync_data"].values() if r["seq"] is not None]
        assert len(seqs) == len(set(seqs))
        assert after["sequence"] == max(seqs)
    # written in key order: the same numbers on both engines
    after2 = scenario["after2"]["sync_data"]
    run2 = sorted(
        written_in(scenario["before2"], scenario["after2"]),
        key=lambda k: (after2[k]["user_id"], *k),
    )
    numbers = [after2[k]["seq"] for k in run2]
    assert numbers == sorted(numbers)
    assert scenario["target"].seq_problems() == []


def test_a_run_with_nothing_changed_writes_nothing(scenario):
    assert scenario["after3"]["sync_data"] == scenario["after2"]["sync_data"]
    assert scenario["after3"]["ledger"] == scenario["after2"]["ledger"]
    assert scenario["after3"]["sequence"] == scenario["after2"]["sequence"]
    counts = {
        r["entity_type"]: (
            r["inserted_count"],
            r["updated_count"],
            r["tombstoned_count"],
            r["revived_count"],
            r["conflict_count"],
            r["adopted_count"],
        )
        for r in scenario["after3"]["runs"]
    }
    assert counts["goal"] == (0, 0, 0, 0, 0, 0)


def test_migration_runs_counts_every_outcome(scenario):
    [run1] = [r for r in scenario["after1"]["runs"] if r["entity_type"] == "goal"]
    # run 1: 10 inserted, g_adopt + g_adopt_gone adopted, g_unknown a conflict
    # settled by an update, g_adopt_gone tombstoned, g_device not counted
    assert (
        run1["inserted_count"],
        run1["updated_count"],
        run1["tombstoned_count"],
        run1["adopted_count"],
        run1["conflict_count"],
        run1["processed_count"],
    ) == (10, 1, 1, 2, 1, 13)
    [run2] = [r for r in scenario["after2"]["runs"] if r["entity_type"] == "goal"]
    assert (
        run2["inserted_count"],
        run2["updated_count"],
        run2["tombstoned_count"],
        run2["revived_count"],
        run2["kept_for_api_count"],
        run2["conflict_count"],
        run2["error_count"],
    ) == (1, 2, 3, 1, 2, 2, 1)
    assert (
        "migration goal: success processed=14 inserted=1 updated=2 unchanged=4 rejected=1"
        " tombstoned=3 revived=1 kept_for_api=2 conflicts=2 adopted=0" in scenario["outputs"][2]
    )


def test_the_dry_run_plans_every_outcome_and_writes_nothing(scenario):
    assert scenario["after_dry"] == scenario["before2"]
    out = scenario["dry_output"]
    top = scenario["before2"]["sequence"]
    assert (
        "dry run goal: would insert=1 update=2 leave unchanged=4 reject=1 tombstone=3"
        f" revive=1 keep for the API=2 adopt=0 conflicts=2 (seq {top + 1}..{top + 7})"
    ) in out
    assert "  conflict both_changed: 1, settled by on_conflict=backend_wins" in out
    assert "  conflict deleted_in_backend: 1, settled by on_conflict=backend_wins" in out
    assert "  tombstone (3): g_deleted_api, g_hard, g_soft" in out
    assert "  kept_for_api (2): g_api, g_app_delete" in out
    # the plan numbered exactly what run 2 then wrote
    assert scenario["after2"]["sequence"] == top + 7


def comparable(snapshot):
    """What a run decided, without what differs between two runs of the same
    plan: times, run ids, the ids new rows get from the run's clock, and the
    counts of keys compared (a narrowed run compares fewer)."""
    sync_data = {
        key: {
            **{c: row[c] for c in ["user_id", "data", "checksum", "version", "seq", "device_id"]},
            "deleted": row["deleted_at"] is not None,
        }
        for key, row in snapshot["sync_data"].items()
    }
    ledger = {
        key: (row["checksum"], row["backend_deleted"]) for key, row in snapshot["ledger"].items()
    }
    conflicts = sorted(
        tuple(
            row[c]
            for c in [
                "entity_id",
                "kind",
                "resolution",
                "backend_state",
                "backend_checksum",
                "api_checksum",
                "ledger_checksum",
                "lost_side",
                "lost_document",
                "times_seen",
            ]
        )
        for row in snapshot["conflicts"]
    )
    runs = {
        row["entity_type"]: {
            c: row[c]
            for c in row
            if c.endswith("_count") and c not in ("processed_count", "skipped_count")
        }
        for row in snapshot["runs"]
    }
    return sync_data, ledger, conflicts, runs, snapshot["sequence"]


def rejects(target):
    return sorted(
        (r["entity_type"], r["entity_key"], r["reason"], r["value"])
        for r in target.query("select * from {t}migration_rejects")
    )


def play_narrowed_beside(full, tmp_path, template_db, on_conflict):
    """The scenario again on a fresh database of the same engine with compare:
    changed, checked run by run against `full`, the same scenario comparing
    every key; returns the narrowed runs' outputs and last snapshot."""
    target = Target(full["target"].engine, tmp_path, template_db)
    try:
        # dbt run: the data tests ran in the full scenario
        narrowed = play_scenario(
            target, on_conflict=on_conflict, compare="changed", command=("run",), dry=False
        )
        for name in ["after1", "after_tombstone", "after2", "after3"]:
            assert comparable(narrowed[name]) == comparable(full[name]), name
        assert rejects(target) == rejects(full["target"]) != []
        assert target.seq_problems() == []
    finally:
        target.close()
    outputs = narrowed["outputs"]
    assert "comparing every key: no run has recorded its state yet" in outputs[0]
    for output in outputs[2:]:
        assert "comparing the keys that may have changed" in output
    for output in full["outputs"]:
        assert "compare: changed" not in output
    return narrowed


def test_a_narrowed_run_decides_every_key_as_a_full_run_does(scenario, tmp_path, template_db):
    """compare: changed compares only the keys marked as changed since the last
    run; played through every situation of the contract's table, each run
    leaves exactly what the same run comparing every key leaves."""
    narrowed = play_narrowed_beside(scenario, tmp_path, template_db, "backend_wins")
    # the other user's run narrowed too (a user filter keeps the marks)
    assert "comparing the keys that may have changed" in narrowed["outputs"][1]
    # run 3 changed nothing: it compared only the keys kept for the API
    # (g_api, g_app_delete) and the rejected one, counting them as a full run does
    [run3] = [r for r in narrowed["after3"]["runs"] if r["entity_type"] == "goal"]
    [full3] = [r for r in scenario["after3"]["runs"] if r["entity_type"] == "goal"]
    assert (run3["processed_count"], run3["kept_for_api_count"], run3["error_count"]) == (3, 2, 1)
    assert full3["processed_count"] == 14


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def scenario_api_wins(request, tmp_path_factory, template_db):
    target = Target(request.param, tmp_path_factory.mktemp(request.param + "-api"), template_db)
    try:
        # the dry run is checked under backend_wins (scenario); nothing here reads it
        played = play_scenario(target, on_conflict="api_wins", dry=False)
        played["target"] = target
        yield played
    finally:
        target.close()


def test_api_wins_keeps_a_row_of_unknown_origin_and_records_the_backends_document(
    scenario_api_wins,
):
    before = g(scenario_api_wins["before"], "g_unknown")
    for snapshot in ["after1", "after2", "after3"]:
        assert g(scenario_api_wins[snapshot], "g_unknown") == before
        assert ("goal", "g_unknown") not in scenario_api_wins[snapshot]["ledger"]
    [conflict] = [
        c for c in scenario_api_wins["after3"]["conflicts"] if c["entity_id"] == "g_unknown"
    ]
    data, checksum = document(scenario_api_wins["rows"]["g_unknown"])
    assert (conflict["kind"], conflict["resolution"], conflict["lost_side"]) == (
        "unknown_origin",
        "api_wins",
        "backend",
    )
    assert (conflict["lost_document"], conflict["backend_checksum"]) == (data, checksum)
    # met by runs 1, 2 and 3 (not by the other user's run): one row, seen three times
    assert conflict["times_seen"] == 3


def test_api_wins_keeps_both_changed_and_deleted_in_backend_rows(scenario_api_wins):
    for goal_id, kind in [("g_both", "both_changed"), ("g_deleted_api", "deleted_in_backend")]:
        before = g(scenario_api_wins["before2"], goal_id)
        assert before["data"] == f'{{"id":"{goal_id}","by":"app"}}' and before["deleted_at"] is None
        assert g(scenario_api_wins["after2"], goal_id) == before
        assert g(scenario_api_wins["after3"], goal_id) == before
        edited = {
            **scenario_api_wins["rows"][goal_id],
            "title": f"backend edit of {goal_id}",
            "updated_at": T1,
        }
        [conflict] = [
            c for c in scenario_api_wins["after3"]["conflicts"] if c["entity_id"] == goal_id
        ]
        assert (conflict["kind"], conflict["resolution"]) == (kind, "api_wins")
        assert conflict["lost_document"] == document(edited)[0]
        # the ledger still holds what the migration wrote in run 1
        assert (
            scenario_api_wins["after3"]["ledger"][("goal", goal_id)]["checksum"]
            == document(scenario_api_wins["rows"][goal_id])[1]
        )
    assert scenario_api_wins["after3"]["sync_data"] == scenario_api_wins["after2"]["sync_data"]
    assert scenario_api_wins["target"].seq_problems() == []


def test_a_narrowed_run_decides_every_key_as_a_full_run_does_under_api_wins(
    scenario_api_wins, tmp_path, template_db
):
    if scenario_api_wins["target"].engine == "postgres":
        pytest.skip("the policy's SQL is the same on both engines; backend_wins replays on both")
    narrowed = play_narrowed_beside(scenario_api_wins, tmp_path, template_db, "api_wins")
    # the other user's run had the default policy, not the recorded api_wins
    assert "comparing every key: the last run had on_conflict api_wins" in narrowed["outputs"][1]
    # run 3 met again every conflict api_wins keeps open, and the API's edits
    [run3] = [r for r in narrowed["after3"]["runs"] if r["entity_type"] == "goal"]
    assert (run3["processed_count"], run3["kept_for_api_count"], run3["conflict_count"]) == (
        6,
        5,
        3,
    )


def small_production(target):
    """Two users' goals, migrated once, then a device push and an app edit."""
    target.execute(
        "insert into {t}users (id, email) values (?, 'prod@example.com'), (?, 'o@example.com')",
        (USER, OTHER_USER),
    )
    for row in [
        goal("g_1", "one"),
        goal("g_2", "two"),
        goal("g_3", "three", user_id=OTHER_USER),
    ]:
        insert_goal(target, row)
    target.dbt(*BUILD)
    target.api(api_insert, USER, "goal", "g_device", js_stringify({"id": "g_device"}))
    target.api(api_insert, USER, "logbook_entry", "le_device", js_stringify({"id": "le_device"}))
    target.api(api_update, USER, "goal", "g_2", js_stringify({"id": "g_2", "by": "app"}))


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_rollback_tombstones_only_owned_rows_as_the_migration_left_them(
    engine, tmp_path, template_db
):
    """Contract, "Rollback where devices sync by seq": a deleted row is never
    sent to a device, so a rollback tombstones with fresh numbers; the next
    run revives what the backend still has."""
    target = Target(engine, tmp_path, template_db)
    try:
        small_production(target)
        before = target.snapshot()
        dry = target.dbt(
            "run-operation", "rollback_sync_data", "--args", "{all: true, dry_run: true}"
        )
        assert target.snapshot() == before
        assert (
            "rollback goal in " in dry.stdout
            and ": would tombstone 2 rows the migration owns, keeping 1 the API changed since"
            in dry.stdout
        )
        out = target.dbt(
            "run-operation", "rollback_sync_data", "--args", "{all: true, confirm: true}"
        ).stdout
        assert "tombstoning 2 rows the migration owns, keeping 1 the API changed since" in out
        after = target.snapshot()
        assert set(after["sync_data"]) == set(before["sync_data"])
        top = before["sequence"]
        # g_3 and g_1, in key order (u_other's before u_prod's), fresh numbers
        for key, seq in [(("goal", "g_3"), top + 1), (("goal", "g_1"), top + 2)]:
            row, was = after["sync_data"][key], before["sync_data"][key]
            assert row["deleted_at"] is not None and row["seq"] == seq
            assert (row["data"], row["checksum"]) == (was["data"], was["checksum"])
            assert row["version"] == was["version"] + 1
            assert after["ledger"][key]["backend_deleted"] == 1
        assert after["sequence"] == top + 2
        for key in [("goal", "g_2"), ("goal", "g_device"), ("logbook_entry", "le_device")]:
            assert after["sync_data"][key] == before["sync_data"][key]
        assert after["ledger"][("goal", "g_2")] == before["ledger"][("goal", "g_2")]
        rolled = target.query(
            "select entity_type, processed_count, tombstoned_count, deleted_count,"
            " kept_for_api_count from {t}migration_runs where status = 'rolled_back'"
            " order by entity_type"
        )
        assert rolled == [
            {
                "entity_type": "goal",
                "processed_count": 3,
                "tombstoned_count": 2,
                "deleted_count": 0,
                "kept_for_api_count": 1,
            },
            *[
                {
                    "entity_type": entity_type,
                    "processed_count": 0,
                    "tombstoned_count": 0,
                    "deleted_count": 0,
                    "kept_for_api_count": 0,
                }
                for entity_type in ("logbook_entry", "practice_session")
            ],
        ]
        assert target.seq_problems() == []
        # the next run revives both: the backend rows are live
        target.dbt(*BUILD)
        again = target.snapshot()
        for key, seq in [(("goal", "g_3"), top + 3), (("goal", "g_1"), top + 4)]:
            row = again["sync_data"][key]
            assert row["deleted_at"] is None and row["seq"] == seq
            assert row["data"] == before["sync_data"][key]["data"]
            assert row["version"] == before["sync_data"][key]["version"] + 2
            assert again["ledger"][key]["backend_deleted"] == 0
        assert [r["revived_count"] for r in again["runs"] if r["entity_type"] == "goal"] == [2]
        assert again["sync_data"][("goal", "g_2")] == before["sync_data"][("goal", "g_2")]
        assert again["conflicts"] == []
        assert target.seq_problems() == []
    finally:
        target.close()


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_a_rolled_back_row_whose_backend_row_is_gone_stays_down(engine, tmp_path, template_db):
    target = Target(engine, tmp_path, template_db)
    try:
        small_production(target)
        target.dbt("run-operation", "rollback_sync_data", "--args", f"{{user_id: {OTHER_USER}}}")
        down = target.snapshot()
        assert down["sync_data"][("goal", "g_3")]["deleted_at"] is not None
        assert down["sync_data"][("goal", "g_1")]["deleted_at"] is None
        assert set(down["ledger"]) == {("goal", "g_1"), ("goal", "g_2"), ("goal", "g_3")}
        target.execute("delete from {t}goals where id = 'g_3'")
        target.dbt(*BUILD)
        after = target.snapshot()
        assert after["sync_data"][("goal", "g_3")] == down["sync_data"][("goal", "g_3")]
        # nothing in scope left to roll back: no row moves
        target.dbt("run-operation", "rollback_sync_data", "--args", "{entity_type: logbook_entry}")
        assert target.snapshot()["sync_data"] == after["sync_data"]
        assert target.seq_problems() == []
    finally:
        target.close()


def goal_run(target):
    [run] = [r for r in target.snapshot()["runs"] if r["entity_type"] == "goal"]
    return run


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_a_narrowed_run_compares_every_key_when_its_marks_cannot_vouch(
    engine, tmp_path, template_db
):
    """compare: changed trusts the last run's marks only while nothing they
    do not cover has changed; otherwise it compares every key and says why.
    The checks whose SQL is the same on both engines run on SQLite only."""
    changed = ("--vars", "{compare: changed}")
    narrowed = "comparing the keys that may have changed since the last run"
    target = Target(engine, tmp_path, template_db)
    try:
        small_production(target)  # its run compared every key and left its marks
        out = target.dbt("run", *changed).stdout
        assert narrowed in out
        # only g_2 (the app's edit, kept) of the goals the ledger or backend name
        assert (goal_run(target)["processed_count"], goal_run(target)["kept_for_api_count"]) == (
            1,
            1,
        )

        if engine == "sqlite":
            # the ledger edited by hand: its count differs, every key is compared
            target.execute("delete from {t}migration_ledger where entity_id = 'g_1'")
            out = target.dbt("run", *changed).stdout
            assert (
                "comparing every key: migration_ledger has 2 goal entries, the last run left 3"
                in out
            )
            assert target.snapshot()["ledger"][("goal", "g_1")]["backend_deleted"] == 0
            assert (goal_run(target)["processed_count"], goal_run(target)["adopted_count"]) == (
                3,
                1,
            )

        target.execute("insert into {t}users (id, email) values ('u_new', 'n@example.com')")
        out = target.dbt("run", *changed).stdout
        assert "comparing every key: users were added or removed since the last run" in out

        # a rollback tombstones with fresh seqs: the next narrowed run revives
        target.dbt("run-operation", "rollback_sync_data", "--args", "{all: true, confirm: true}")
        out = target.dbt("run", *changed).stdout
        assert narrowed in out
        assert goal_run(target)["revived_count"] == 2
        assert all(
            target.snapshot()["sync_data"][("goal", g)]["deleted_at"] is None
            for g in ["g_1", "g_3"]
        )

        # a backend row moved to another user: its old key is tombstoned
        target.execute("update {t}goals set user_id = ? where id = 'g_3'", (USER,))
        out = target.dbt("run", *changed).stdout
        assert narrowed in out
        moved = target.query(
            "select user_id, deleted_at is not null as deleted, version from {t}sync_data"
            " where entity_id = 'g_3' order by user_id"
        )
        assert [(r["user_id"], bool(r["deleted"])) for r in moved] == [
            (OTHER_USER, True),
            (USER, False),
        ]

        if engine == "sqlite":
            # a cache rebuilt from nothing has no mark of the rows deleted meanwhile
            target.dbt("run", "--full-refresh", "--select", "intermediate")
            out = target.dbt("run", *changed).stdout
            assert (
                "comparing every key: the document cache of goal was rebuilt from nothing since"
                " the last run" in out
            )

        # the script's row of a goal the app deleted since: adopted, and from
        # then on kept for the API, as a full run keeps it
        row = goal("g_5", "five")
        insert_goal(target, row)
        script_row(target, row, seq=None)
        target.api(api_soft_delete, USER, "goal", "g_5")
        out = target.dbt("run", *changed).stdout
        assert narrowed in out and goal_run(target)["adopted_count"] == 1
        target.dbt("run", *changed)
        narrowed_kept = goal_run(target)["kept_for_api_count"]
        target.dbt("run")
        assert narrowed_kept == goal_run(target)["kept_for_api_count"] >= 1
        assert target.query(
            "select entity_key from {t}migration_open_keys where entity_key = 'g_5'"
        )

        if engine == "postgres":
            return
        # what no marker shows: a row deleted by hand is not seen by the
        # merge, but the verification fails the build; a run comparing every
        # key puts it back
        target.execute("delete from {t}sync_data where entity_id = 'g_1'")
        failed = target.dbt(*BUILD, *changed, expect_ok=False)
        assert failed.returncode != 0
        assert "FAIL 1 reconciles_with_source_sync_data" in failed.stdout
        assert ("goal", "g_1") not in target.snapshot()["sync_data"]
        target.dbt("run")
        assert target.snapshot()["sync_data"][("goal", "g_1")]["version"] == 1

        before = target.snapshot()
        failed = target.dbt("run", "--vars", "{compare: everything}", expect_ok=False)
        assert failed.returncode != 0
        assert "var compare is 'everything'; use all (the default" in failed.stdout
        assert target.snapshot()["sync_data"] == before["sync_data"]
    finally:
        target.close()


def test_a_narrowed_run_on_sync_data_without_seq_compares_every_key(db):
    """The original shape has no seq to find the API's writes by."""
    run_dbt(db, *BUILD, "--vars", "{compare: changed}")
    out = run_dbt(db, *BUILD, "--vars", "{compare: changed}").stdout
    assert "compare: changed — comparing every key: sync_data has no seq." in out
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master")}
    assert "migration_merge_state" not in tables


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_a_concurrent_api_writer_never_collides_with_the_run(engine, tmp_path, template_db):
    target = Target(engine, tmp_path, template_db)
    try:
        target.execute("insert into {t}users (id, email) values (?, 'prod@example.com')", (USER,))
        for n in range(300):
            insert_goal(target, goal(f"g_{n:03}", f"goal {n}"))
        taken, errors = [], []
        stop = threading.Event()

        def api_writer():
            if engine == "sqlite":
                conn = sqlite3.connect(target.path, timeout=30)
                schema = None
            else:
                import psycopg2
                from pg import server_settings

                conn = psycopg2.connect(**server_settings())
                conn.autocommit = True
                schema = target.schema
            n = 0
            while not stop.is_set():
                try:
                    kwargs = {"schema": schema} if schema else {}
                    taken.append(
                        api_insert(conn, engine, USER, "logbook_entry", f"le_{n}", "{}", **kwargs)
                    )
                except Exception as error:  # noqa: BLE001 - a clean failure is allowed, and counted
                    errors.append(str(error))
                n += 1
                time.sleep(0.01)
            conn.close()

        writer = threading.Thread(target=api_writer)
        writer.start()
        try:
            time.sleep(0.3)
            target.dbt(*BUILD)
            migrated = sorted(
                r["seq"] for k, r in target.snapshot()["sync_data"].items() if k[0] == "goal"
            )
            time.sleep(0.3)
            # a rollback under the same writer: its lock first, then its reads
            target.dbt("run-operation", "rollback_sync_data", "--args", "{entity_type: goal}")
            time.sleep(0.3)
        finally:
            stop.set()
            writer.join()
        after = target.snapshot()
        assert taken and len(taken) == len(set(taken))
        # only a lock wait that ran out may fail a write, never a duplicate number
        assert all("locked" in e or "lock" in e for e in errors), errors
        assert target.seq_problems() == []
        # the run's 300 numbers are one block: no API write got in between
        assert migrated == list(range(migrated[0], migrated[0] + 300))
        goals = [r for k, r in after["sync_data"].items() if k[0] == "goal"]
        # the rollback's 300 tombstones are one block: no API write got in between
        tombstones = sorted(r["seq"] for r in goals)
        assert all(r["deleted_at"] is not None and r["version"] == 2 for r in goals)
        assert tombstones == list(range(tombstones[0], tombstones[0] + 300))
        assert not (set(tombstones) | set(migrated)) & set(taken)
    finally:
        target.close()


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_sync_sequence_is_created_at_the_largest_seq_when_missing(engine, tmp_path, template_db):
    target = Target(engine, tmp_path, template_db)
    try:
        target.execute("drop table {t}sync_sequence")
        target.execute("insert into {t}users (id, email) values (?, 'prod@example.com')", (USER,))
        insert_goal(target, goal("g_1", "one"))
        target.execute(
            "insert into {t}sync_data (id, user_id, entity_type, entity_id, data, checksum, seq)"
            " values ('sync_api_1', ?, 'goal', 'g_api', '{}', ?, 41)",
            (USER, sha("{}")),
        )
        dry = target.dbt("run", "--vars", "{dry_run: true}").stdout
        assert "dry run goal: would insert=1 update=0" in dry and "(seq 42..42)" in dry
        assert not target._has_table("sync_sequence")
        target.dbt(*BUILD)
        after = target.snapshot()
        assert after["sync_data"][("goal", "g_1")]["seq"] == 42
        assert after["sequence"] == 42
        assert target.seq_problems() == []
    finally:
        target.close()


def script_document(entity_type, row, contract_data):
    """What the old script wrote: the contract's document, except that a
    practice session's startedAt/completedAt are the stored values and an
    accuracyPercentage of 0 is null (the contract's "What the script really
    wrote")."""
    if entity_type != "practice_session":
        return contract_data
    document = json.loads(contract_data)
    document["startedAt"] = row["started_at"]
    document["completedAt"] = row["completed_at"] or None
    if document["accuracyPercentage"] == 0:
        document["accuracyPercentage"] = None
    return js_stringify(document)


def json_equal(left, right):
    """Equal as JSON values: a number's spelling and an object's key order
    aside, but true is not 1."""
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    numbers = (int, float)
    if isinstance(left, numbers) and isinstance(right, numbers):
        return left == right
    return type(left) is type(right) and left == right


def changed_fields(before, after):
    """The top-level fields whose values differ, sorted by bytes."""
    old, new = json.loads(before), json.loads(after)
    return sorted(
        (
            k
            for k in old.keys() | new.keys()
            if k not in old or k not in new or not json_equal(old[k], new[k])
        ),
        key=lambda k: k.encode(),
    )


def diff_lines():
    """The last run's document diff (target/run_diff.csv), without run ids,
    every value parsed as JSON."""
    import csv

    with open(PROJECT_DIR / "target" / "run_diff.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len({row.pop("run_id") for row in rows}) <= 1
    for row in rows:
        for side in ("before_value", "after_value"):
            row[side] = json.loads(row[side]) if row[side] else None
    return sorted(rows, key=lambda r: (r["entity_type"], r["entity_id"], r["field"]))


def expected_diff(before, after):
    """The diff lines of what a run wrote, from the snapshots around it."""
    kinds = {(c["entity_type"], c["entity_id"]): c["kind"] for c in after["conflicts"]}
    lines = []
    for key, row in after["sync_data"].items():
        old = before["sync_data"].get(key)
        if old == row:
            continue
        if old is None:
            action, fields = "insert", []
        elif row["deleted_at"] and not old["deleted_at"]:
            action, fields = "tombstone", []
        else:
            action = "revive" if old["deleted_at"] else "update"
            fields = changed_fields(old["data"], row["data"])
        label = " + ".join(fields) or (
            "(same values, other bytes)" if old and old["data"] != row["data"] else ""
        )
        common = {
            "entity_type": key[0],
            "action": action,
            "conflict_kind": kinds.get(key, ""),
            "changed_fields": label,
            "user_id": row["user_id"],
            "entity_id": key[1],
        }
        if not fields:
            lines.append({**common, "field": "", "before_value": None, "after_value": None})
        for field in fields:
            lines.append(
                {
                    **common,
                    "field": field,
                    "before_value": json.loads(old["data"]).get(field),
                    "after_value": json.loads(row["data"]).get(field),
                }
            )
    return sorted(lines, key=lambda r: (r["entity_type"], r["entity_id"], r["field"]))


def history_as_text(target):
    """The script's two README queries, every value as text."""
    out = {}
    for name, sql in SCRIPT_README_QUERIES.items():
        if target.engine == "postgres":
            target.execute(f"set search_path to {target.schema}")
        out[name] = [
            {k: (None if v is None else str(v)) for k, v in row.items()}
            for row in target.query(sql)
        ]
    return out


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_cutover_from_the_script_adopts_its_rows_and_keeps_its_history(
    engine, tmp_path, template_db
):
    import test_migration as contract
    from conftest import insert_rows, oracle_for_database
    from pg import mirror_backend

    source = tmp_path / "source.db"
    shutil.copy(template_db, source)
    for table, rows in [
        ("users", contract.USERS),
        ("logbook_entries", contract.LOGBOOK),
        ("goals", contract.GOALS),
        ("practice_sessions", contract.SESSIONS),
    ]:
        insert_rows(source, table, rows)
    verdicts = oracle_for_database(source)
    target = Target(engine, tmp_path, source if engine == "sqlite" else template_db)
    try:
        skipped = mirror_backend(source, target.pg) if engine == "postgres" else set()
        with sqlite3.connect(source) as conn:
            conn.row_factory = sqlite3.Row
            stored = {
                (entity_type, row["id"]): dict(row)
                for entity_type, table in [
                    ("logbook_entry", "logbook_entries"),
                    ("goal", "goals"),
                    ("practice_session", "practice_sessions"),
                ]
                for row in conn.execute(f"select * from {table}")
            }
        migratable = sorted(
            key
            for key, verdict in verdicts.items()
            if "data" in verdict and not any(key[1] == k for _, k in skipped)
        )
        # the script's pagination stopped early: every fourth row is missing
        written, missing = migratable[1::4], set()
        script = {}
        for i, key in enumerate(migratable):
            if i % 4 == 1:
                missing.add(key)
                continue
            row = stored[key]
            data = script_document(key[0], row, verdicts[key]["data"])
            script[key] = data
            target.execute(
                "insert into {t}sync_data (id, user_id, entity_type, entity_id, data, checksum,"
                " version, created_at, updated_at, seq) values (?, ?, ?, ?, ?, ?, 1,"
                " '2023-11-14 22:13:20', '2023-11-14 22:13:20', ?)",
                (f"sync_script_{i}", row["user_id"], key[0], key[1], data, sha(data), i + 1),
            )
        target.execute("update {t}sync_sequence set current_value = ?", (len(migratable),))
        assert written
        differs = {key for key, data in script.items() if data != verdicts[key]["data"]}
        assert differs and all(key[0] == "practice_session" for key in differs)
        # the backend deleted one of the script's goals since: a tombstone
        deleted = next(key for key in sorted(script) if key[0] == "goal")
        target.execute(
            "update {t}goals set deleted_at = '2024-02-01 10:00:00' where id = ?", (deleted[1],)
        )
        history_before = history_as_text(target)
        before = target.snapshot()

        # the dry run's diff: the rewritten fields of the script's sessions,
        # the rows its pagination missed, and nothing else
        proc = target.make_or_dbt("dry-run", "run", "--vars", "{dry_run: true}")
        planned = diff_lines()
        assert target.snapshot() == before
        rewritten = {}
        for key in differs:
            fields = " + ".join(changed_fields(script[key], verdicts[key]["data"]))
            rewritten[fields] = rewritten.get(fields, 0) + 1
        assert rewritten and all(
            set(label.split(" + ")) <= {"startedAt", "completedAt", "accuracyPercentage"}
            for label in rewritten
        )
        for label, count in rewritten.items():
            assert (
                f"  practice_session update (conflict unknown_origin): {label} — {count} row(s), e.g."
                in proc.stdout
            ), proc.stdout
        assert {(line["action"], line["entity_type"], line["entity_id"]) for line in planned} == {
            ("insert", *key) for key in missing
        } | {("update", *key) for key in differs} | {("tombstone", *deleted)}
        assert f"  goal tombstone — 1 row(s), e.g. {deleted[1]}\n" in proc.stdout

        target.make_or_dbt("migrate", *BUILD)
        after = target.snapshot()
        # the real run's diff is what it wrote, and what the dry run planned
        written = diff_lines()
        assert written == expected_diff(before, after)
        assert written == planned

        for key in migratable:
            row = after["sync_data"][key]
            assert (row["data"], row["checksum"]) == (
                verdicts[key]["data"],
                verdicts[key]["checksum"],
            )
            if key in missing:
                assert row["version"] == 1 and row["seq"] > len(migratable)
            elif key in differs:
                assert row["version"] == 2 and row["seq"] > len(migratable)
            elif key == deleted:
                assert row["version"] == 2 and row["deleted_at"] is not None
            else:
                assert row == before["sync_data"][key]
        counts = {r["entity_type"]: r for r in after["runs"]}
        assert sum(r["adopted_count"] for r in counts.values()) == len(script) - len(differs)
        assert sum(r["inserted_count"] for r in counts.values()) == len(missing)
        assert sum(r["updated_count"] for r in counts.values()) == len(differs)
        assert sum(r["tombstoned_count"] for r in counts.values()) == 1
        assert sum(r["conflict_count"] for r in counts.values()) == len(differs)
        assert {c["kind"] for c in after["conflicts"]} == {"unknown_origin"}
        # the script's README queries read its history as it was, and this run too
        history_after = history_as_text(target)
        script_ids = {h[0] for h in SCRIPT_HISTORY}
        assert [r for r in history_after["history"] if r["id"] in script_ids] == history_before[
            "history"
        ]
        assert len(history_after["history"]) == len(history_before["history"]) + 3
        totals_before = {r["entity_type"]: r for r in history_before["totals"]}
        for total in history_after["totals"]:
            ours = counts[total["entity_type"]]
            earlier = totals_before.get(total["entity_type"], {"total_processed": "0"})
            assert (
                int(total["total_processed"])
                == int(earlier["total_processed"]) + ours["processed_count"]
            )
        old = target.query(
            "select id, run_id, status, target_name from {t}migration_runs"
            " where target_name = 'old script' order by id"
        )
        assert [(r["id"], r["status"]) for r in old] == sorted(
            (h[0], "success" if h[6] else "failed") for h in SCRIPT_HISTORY
        )
        assert all(r["run_id"] == r["id"] for r in old)
        # and a second run writes nothing
        target.dbt(*BUILD)
        assert target.snapshot()["sync_data"] == after["sync_data"]
        assert target.seq_problems() == []
    finally:
        target.close()


def verdicts(target):
    """{check: (verdict, count)} of verify_migration: make verify on SQLite,
    dbt show on PostgreSQL (make verify reads SQLite files only)."""
    if target.engine == "sqlite":
        proc = subprocess.run(
            ["make", "verify", "TARGET=prod", f"SYNC_DB_PATH={target.path}"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        found = {}
        for line in proc.stdout.splitlines():
            if line.startswith("0 verdict"):
                *check, verdict, count = line[len("0 verdict") :].split()
                found[" ".join(check)] = (verdict, int(count))
        return found
    out = target.dbt(
        "show", "--select", "verify_migration", "--limit", "1000", "--output", "json", "--quiet"
    ).stdout
    rows = json.loads(out[out.index("{") :])["show"]
    return {
        r["entity_type"]: (r["detail"], int(r["value"]))
        for r in rows
        if r["check_name"] == "0 verdict"
    }


def test_verification_judges_owned_rows_and_counts_the_apis(scenario):
    found = verdicts(scenario["target"])
    assert found["7 checksum mismatch"] == ("pass", 0)
    assert found["8 api rows"] == ("info", 1)
    assert found["9 kept for the API"] == ("info", 2)
    assert found["10 tombstone"] == ("info", 4)
    assert found["11 open conflict"] == ("pass", 0)


def test_verification_counts_open_conflicts_under_api_wins(scenario_api_wins):
    found = verdicts(scenario_api_wins["target"])
    assert found["11 open conflict"] == ("warn", 3)
    assert found["7 checksum mismatch"] == ("pass", 0)
