"""The D1 round trip with D1_REMOTE=1: wrangler's `--remote` path end to end,
against a stand-in for Cloudflare's API on 127.0.0.1 (cloudflare_api.py)
backed by SQLite files. Every make command is given D1_REMOTE=1 on its
command line, as docs/d1.md writes it; the stand-in's address and token come
from the environment, as Cloudflare's credentials do.

What is asserted is the stand-in's file: what D1 would hold.
"""

import hashlib
import re
import shutil
import sqlite3
import subprocess

import pytest
from cloudflare_api import Standin
from conftest import PROJECT_DIR, copy_project
from d1_local import APP_CONFIG, LocalD1, load_sample_backend
from documented import command_env, documented_commands
from production_shape import js_stringify, make_production_shaped_sqlite
from test_d1 import assert_contract_rows

DATABASE_ID = "6f1c2a4e-0000-4000-8000-000000000001"
# production's database in the app's config (d1_local.APP_CONFIG)
APP_DATABASE_ID = "00000000-0000-4000-8000-0000000000a1"


def failure_line(proc):
    """The one line a failed step prints (make adds its own after it)."""
    lines = [line for line in proc.stderr.splitlines() if re.match(r"d1-[a-z]+: ", line)]
    assert len(lines) == 1, proc.stderr
    assert "\x1b[" not in proc.stdout + proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    api = Standin(tmp_path_factory.mktemp("cloudflare"))
    yield api
    api.close()


class RemoteD1:
    """One database of the stand-in, reached as make reaches a remote D1."""

    def __init__(self, standin, folder, seed):
        self.api = standin
        self.folder = folder
        # the same config shape as a local test; remotely its database_id counts
        self.local = LocalD1(folder / "app", name="practice")
        standin.add(DATABASE_ID, "practice", seed)

    def make(self, target, *args, expect=0):
        proc = subprocess.run(
            ["make", "--no-print-directory", target, "D1_REMOTE=1", *args],
            cwd=PROJECT_DIR,
            env=self.local.make_env(**self.api.env(), D1_RETRY_SECONDS="0.1"),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if proc.returncode != expect:
            raise AssertionError(
                f"make {target} exited {proc.returncode}, not {expect}:\n{proc.stdout}\n"
                f"{proc.stderr}"
            )
        return proc

    def sql(self, statements):
        with self.api.lock, sqlite3.connect(self.api.path(DATABASE_ID)) as conn:
            conn.row_factory = sqlite3.Row
            if isinstance(statements, str):
                return [dict(r) for r in conn.execute(statements)]
            for statement in statements:
                conn.execute(statement)
            return None

    def snapshot(self, path):
        with self.api.lock:
            shutil.copy(self.api.path(DATABASE_ID), path)
        return path

    def sync_data(self):
        return self.sql(
            "select user_id, entity_type, entity_id, data, checksum, version, deleted_at, seq"
            " from sync_data order by user_id, entity_type, entity_id"
        )


def seeded(folder, template_db):
    seed = folder / "seed.db"
    shutil.copy(template_db, seed)
    make_production_shaped_sqlite(seed, with_sequence_table=True)
    load_sample_backend(seed)
    return seed


def api_update(d1, entity_type, entity_id, document):
    """The API's edit of a row: new data, version + 1, the next seq."""
    data = js_stringify(document)
    checksum = hashlib.sha256(data.encode()).hexdigest()
    d1.sql(
        [
            "update sync_data set data = '"
            + data.replace("'", "''")
            + f"', checksum = '{checksum}',"
            " version = version + 1, device_id = 'phone-1',"
            " seq = (select current_value + 1 from sync_sequence where id = 1)"
            f" where entity_type = '{entity_type}' and entity_id = '{entity_id}'",
            "update sync_sequence set current_value = current_value + 1 where id = 1",
        ]
    )
    return data


# --- the weekly job, remote, with throttling and a 5xx on the way ----------


@pytest.fixture(scope="module")
def remote(standin, tmp_path_factory, template_db):
    folder = tmp_path_factory.mktemp("d1_remote")
    d1 = RemoteD1(standin, folder, seeded(folder, template_db))
    out = {"d1": d1, "before": d1.snapshot(folder / "before.db")}
    out["dry_run"] = d1.make("d1-sync", "DRY_RUN=1")
    out["after_dry_run"] = d1.snapshot(folder / "after_dry_run.db")
    out["imports_after_dry_run"] = standin.count("import:ingest")
    # Cloudflare throttles the pull's first query, and answers 503 to the
    # poll of an import it has run
    standin.fail(
        "query",
        status=429,
        code=971,
        message="Please wait and consider throttling your request speed",
    )
    standin.fail("import:poll", status=503, code=7500, message="Service Unavailable")
    ingests = standin.count("import:ingest")
    out["first"] = d1.make("d1-sync")
    out["first_ingests"] = standin.count("import:ingest") - ingests
    out["after_first"] = d1.snapshot(folder / "after_first.db")
    out["second"] = d1.make("d1-sync")
    out["after_second"] = d1.snapshot(folder / "after_second.db")
    # a backend edit is migrated; the API edits the same goal before the push
    d1.sql(
        [
            "update goals set title = 'Clair de Lune, all of it' where id = 'goal_001'",
            "update goals set title = 'Sight-read every day' where id = 'goal_005'",
        ]
    )
    d1.make("d1-pull")
    d1.make("d1-migrate")
    out["api_goal_001"] = api_update(d1, "goal", "goal_001", {"id": "goal_001", "title": "mine"})
    out["push"] = d1.make("d1-push")
    out["after_push"] = d1.snapshot(folder / "after_push.db")
    return out


def table(path, sql):
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_the_remote_dry_run_writes_nothing_to_d1(remote):
    out = remote["dry_run"].stdout
    assert "DRY_RUN: nothing pushed" in out
    assert remote["imports_after_dry_run"] == 0
    for name in ("sync_data", "sqlite_master"):
        assert table(remote["after_dry_run"], f"select * from {name}") == table(
            remote["before"], f"select * from {name}"
        )


def test_a_remote_sync_retries_throttling_and_a_5xx_and_applies_each_part_once(remote):
    err = remote["first"].stdout + remote["first"].stderr  # the weekly job joins them
    assert (
        "Please wait and consider throttling your request speed [code: 971]; trying again in"
        " 0.1 s (attempt 2 of 4)" in err
    )
    assert "Service Unavailable [code: 7500]; trying again in 0.1 s (attempt 2 of 4)" in err
    assert "\x1b[" not in err
    # the repeated import found its etag done: one ingest per part, not two
    assert remote["first_ingests"] == 1
    snap = remote["after_first"]
    assert len(assert_contract_rows(snap)) == 54
    assert [r[0] for r in table(snap, "select seq from sync_data order by seq")] == list(
        range(1, 55)
    )
    assert table(snap, "select * from sync_sequence") == [(1, 54)]
    assert "54 applied, 0 skipped, 0 not applied" in remote["first"].stdout


def test_a_remote_push_records_its_time_travel_bookmark(remote):
    out = remote["first"].stdout
    found = re.search(r"Time Travel bookmark (\S+) before this patch", out)
    assert found, out
    bookmark = found.group(1)
    command = (
        f"node_modules/.bin/wrangler d1 time-travel restore practice --bookmark={bookmark}"
        f" --config {remote['d1'].local.config}"
    )
    assert command in out
    runs = table(
        remote["after_first"],
        "select entity_type, d1_bookmark from migration_runs where run_id not like 'migration_17%'",
    )
    assert sorted(runs) == [(t, bookmark) for t in ("goal", "logbook_entry", "practice_session")]
    # the script's own history rows are not this push's
    assert table(
        remote["after_first"],
        "select count(*) from migration_runs where d1_bookmark is null",
    ) == [(3,)]


def test_a_second_remote_sync_writes_nothing(remote):
    for name in ("sync_data", "migration_ledger", "sync_sequence"):
        assert table(remote["after_second"], f"select * from {name}") == table(
            remote["after_first"], f"select * from {name}"
        )


def test_an_api_write_between_pull_and_remote_push_is_kept_and_reported(remote):
    rows = {
        r[0]: r[1:]
        for r in table(
            remote["after_push"],
            "select entity_id, data, version, seq from sync_data where entity_type = 'goal'",
        )
    }
    assert rows["goal_001"] == (remote["api_goal_001"], 2, 55)
    assert '"title":"Sight-read every day"' in rows["goal_005"][0]
    assert rows["goal_005"][1:] == (2, 56)
    out = remote["push"].stdout
    assert "1 applied, 1 skipped" in out
    assert "skipped, changed in D1 since the pull: u_alice/goal/goal_001" in out


def test_the_printed_restore_command_returns_d1_to_before_the_push(remote, tmp_path):
    """Last in this module: it rewinds the database."""
    d1 = remote["d1"]
    found = re.search(
        r"run: (node_modules/\.bin/wrangler d1 time-travel restore .+)$",
        remote["push"].stdout,
        re.MULTILINE,
    )
    # --json: the same restore without wrangler's interactive confirmation
    proc = subprocess.run(
        [*found.group(1).split(), "--json"],
        cwd=PROJECT_DIR,
        env=d1.local.make_env(**d1.api.env()),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    restored = d1.snapshot(tmp_path / "restored.db")
    # the API's goal_001 edit came after the pull, before the bookmark: kept;
    # the push's goal_005 update is undone
    goals = dict(
        table(restored, "select entity_id, version from sync_data where entity_type = 'goal'")
    )
    assert goals["goal_001"] == 2
    assert goals["goal_005"] == 1
    assert table(restored, "select * from sync_sequence") == [(1, 55)]


# --- faults: each run after one finishes the job, nothing twice -------------


@pytest.fixture(scope="module")
def faulty(tmp_path_factory, template_db):
    folder = tmp_path_factory.mktemp("d1_remote_faults")
    api = Standin(folder / "api")
    d1 = RemoteD1(api, folder, seeded(folder, template_db))
    out = {"d1": d1, "api": api}
    # the export's download is refused: the pull stops, naming it
    api.fail("download", status=403, code=10000, message="Forbidden")
    out["refused_pull"] = d1.make("d1-pull", expect=2)
    out["pull"] = d1.make("d1-pull")
    d1.make("d1-migrate")
    # the import dies after 3 statements: D1 stays as it was
    api.import_fail_after = 3
    out["failed_import"] = d1.make("d1-push", expect=2)
    out["after_failed_import"] = d1.snapshot(folder / "after_failed_import.db")
    # the read-back fails more often than the retries allow
    api.fail(
        "query",
        status=500,
        code=7500,
        message="Internal Server Error",
        times=4,
        armed=lambda: api.count("import:ingest") >= 2,
    )
    out["failed_read_back"] = d1.make("d1-push", expect=2)
    out["after_failed_read_back"] = d1.snapshot(folder / "after_failed_read_back.db")
    out["push"] = d1.make("d1-push")
    out["after_push"] = d1.snapshot(folder / "after_push.db")
    out["repush"] = d1.make("d1-push")
    out["after_repush"] = d1.snapshot(folder / "after_repush.db")
    yield out
    api.close()


def test_a_refused_export_download_fails_the_pull_in_one_line(faulty):
    last = failure_line(faulty["refused_pull"])
    assert last.endswith(
        "There was an error while downloading from the presigned URL with status code: 403"
    )
    assert faulty["pull"].returncode == 0


def test_a_failed_import_leaves_d1_as_it_was_and_names_the_cause(faulty):
    last = failure_line(faulty["failed_import"])
    assert last.startswith("d1-push: part 1/1 of the patch did not apply (")
    assert "D1 reset the import (a fault of the test): SQLITE_ERROR" in last
    assert last.endswith("push again (a repeated push is safe).")
    assert table(faulty["after_failed_import"], "select count(*) from sync_data") == [(0,)]


def test_a_failed_read_back_stops_before_the_history_and_names_the_cause(faulty):
    last = failure_line(faulty["failed_read_back"])
    assert last.startswith("d1-push: every part was sent, but reading the rows back failed")
    assert "Internal Server Error [code: 7500] (tried 4 times)" in last
    snap = faulty["after_failed_read_back"]
    assert table(snap, "select count(*) from sync_data") == [(54,)]
    assert table(
        snap, "select count(*) from migration_runs where run_id not like 'migration_17%'"
    ) == [(0,)]


def test_the_push_after_the_faults_finishes_the_job_once(faulty):
    snap = faulty["after_push"]
    assert len(assert_contract_rows(snap)) == 54
    assert [r[0] for r in table(snap, "select seq from sync_data order by seq")] == list(
        range(1, 55)
    )
    assert table(snap, "select count(*) from migration_ledger") == [(54,)]
    runs = table(
        snap,
        "select entity_type, inserted_count from migration_runs"
        " where run_id not like 'migration_17%' order by entity_type",
    )
    assert runs == [("goal", 12), ("logbook_entry", 30), ("practice_session", 12)]
    for name in ("sync_data", "migration_ledger", "migration_runs", "sync_sequence"):
        assert table(faulty["after_repush"], f"select * from {name}") == table(
            snap, f"select * from {name}"
        )


# --- the documented remote commands, as written -----------------------------


def remote_blocks():
    """The commands of the blocks README.md and docs/d1.md mark `remote:`, in
    document order; one that both show runs once."""
    seen, commands = set(), []
    for document in ("README.md", "docs/d1.md"):
        to_run, _ = documented_commands(document, (PROJECT_DIR / document).read_text(), remote=True)
        for command in to_run:
            bare = re.sub(r"\s+#.*", "", command.text)
            if bare not in seen:
                seen.add(bare)
                commands.append(command)
    return commands


def test_the_documented_remote_commands_run_as_written(tmp_path, template_db):
    commands = remote_blocks()
    assert [c.text.split("#")[0].split()[:2] for c in commands] == [
        ["export", "CLOUDFLARE_API_TOKEN=..."],
        ["make", "d1-sync"],
        ["make", "d1-sync"],
        ["make", "d1-rollback"],
        ["make", "d1-rollback"],
    ]
    # the docs' placeholders are the stand-in's credentials
    api = Standin(tmp_path / "cloudflare", account="...", token="...")
    try:
        api.add(APP_DATABASE_ID, "mirubato-prod", seeded(tmp_path, template_db))
        project = copy_project(tmp_path / "work" / "project")
        (tmp_path / "work" / "api").mkdir()
        (tmp_path / "work" / "api" / "wrangler.toml").write_text(APP_CONFIG)
        env = {**command_env(), "CLOUDFLARE_API_BASE_URL": api.base_url}
        states, exports = [], []
        for command in commands:
            with api.lock:
                before = api.count("import:ingest")
            if command.text.startswith("export "):
                exports.append(command.text)  # it holds for the commands after it
            proc = subprocess.run(
                ["bash", "-c", "\n".join([*exports, command.text])],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            assert proc.returncode == command.expected_exit, (
                f"{command}\n{proc.stdout}\n{proc.stderr}"
            )
            with api.lock, sqlite3.connect(api.path(APP_DATABASE_ID)) as conn:
                states.append(
                    (
                        api.count("import:ingest") - before,
                        conn.execute(
                            "select count(*), count(deleted_at), max(seq) from sync_data"
                        ).fetchone(),
                    )
                )
    finally:
        api.close()
    assert states == [
        (0, (0, 0, None)),  # export
        (0, (0, 0, None)),  # the dry run pushes nothing
        (1, (54, 0, 54)),  # the sync: one part
        (0, (54, 0, 54)),  # the rollback's dry run counts only
        (1, (54, 12, 66)),  # the goals tombstoned, with fresh seq
    ]


def test_scripts_d1_explains_itself():
    python = str(PROJECT_DIR / ".venv" / "bin" / "python")

    def run(*args):
        return subprocess.run(
            [python, "scripts/d1", *args], cwd=PROJECT_DIR, capture_output=True, text=True
        )

    top = run("--help")
    assert top.returncode == 0
    for step in ("pull", "migrate", "patch", "push", "sync", "rollback", "path"):
        assert f"\n    {step} " in top.stdout
        assert run(step, "--help").returncode == 0
    assert "Time Travel bookmark" in run("push", "--help").stdout
    wrong = run("pul")
    assert wrong.returncode == 2
    assert "invalid choice: 'pul'" in wrong.stderr
