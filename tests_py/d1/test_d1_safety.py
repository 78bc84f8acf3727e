"""Issue 23's attacks, run again: never the wrong database, never a wider
scope, never a false history, and every failure named by its cause.

The fast tests call scripts/d1's modules and make's checks directly; the
others run the make targets and scripts/weekly_sync.sh against wrangler's
local D1, with configs shaped like the app's (one binding DB per wrangler
environment) and real small or read-only file systems (tmpfs).
"""

import fcntl
import json
import shutil
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import PROJECT_DIR, oracle_for_database, run_dbt
from d1_local import APP_CONFIG, ENV, LocalD1, pulled_d1, seeded_d1
from test_d1 import api_insert, make

sys.path.insert(0, str(PROJECT_DIR / "scripts" / "d1"))
sys.path.insert(0, str(PROJECT_DIR / "scripts"))

import identity as d1_target  # noqa: E402
from lock import EXIT_CANTCREAT, EXIT_LOCKED, LockError, database_lock  # noqa: E402
from pull import load_failure  # noqa: E402
from push import corrected_history  # noqa: E402
from wrangler import Refused  # noqa: E402

PYTHON = str(PROJECT_DIR / ".venv" / "bin" / "python")


def app_config(folder):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "wrangler.toml").write_text(APP_CONFIG)
    return folder / "wrangler.toml"


def run(command, env, **kwargs):
    return subprocess.run(
        command,
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        **kwargs,
    )


@contextmanager
def held(path):
    """Hold a lock file as a running step would."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield


@pytest.fixture
def mount(tmp_path):
    """mount(size, readonly=False): a tmpfs of that size (a full disk, a
    read-only folder), unmounted afterwards."""
    mounted = []

    def make_mount(size="1m", name="disk"):
        folder = tmp_path / name
        folder.mkdir()
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield make_mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def read_only(folder):
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


# --- 1. which database: the identity ------------------------------------------


def test_the_apps_config_names_four_databases_by_identity(tmp_path):
    config = app_config(tmp_path / "api")
    top = d1_target.resolve("DB", str(config))
    by_name = d1_target.resolve("mirubato-prod", str(config))
    production = d1_target.resolve("DB", str(config), env="production")
    staging = d1_target.resolve("DB", str(config), env="staging")
    local = d1_target.resolve("DB", str(config), env="local")
    assert (top.database_name, staging.database_name, local.database_name) == (
        "mirubato-prod",
        "mirubato-dev",
        "mirubato-local",
    )
    # one database through a name, a binding or [env.production]: one identity
    assert top.key == by_name.key == production.key
    assert top.lock_file() == by_name.lock_file() == production.lock_file()
    assert len({top.key, staging.key, local.key}) == 3
    assert len({top.default_file(), staging.default_file(), local.default_file()}) == 3
    assert staging.default_file().name == f"mirubato-dev-staging-local-{staging.key}.db"
    # local and remote are two databases
    remote = d1_target.resolve("DB", str(config), env="staging", remote=True)
    assert remote.identity == {
        "where": "remote",
        "database_id": "00000000-0000-4000-8000-0000000000b2",
    }
    assert remote.key != staging.key
    # another folder's config, same text: another local D1, the same remote one
    other = app_config(tmp_path / "other")
    assert d1_target.resolve("DB", str(other), env="staging").key != staging.key
    assert d1_target.resolve("DB", str(other), env="staging", remote=True).key == remote.key
    # D1_PERSIST_TO names another local state
    elsewhere = d1_target.resolve("DB", str(config), env="staging", persist_to=str(tmp_path))
    assert elsewhere.key != staging.key


def test_a_name_the_config_does_not_declare_is_refused_before_wrangler(tmp_path):
    config = app_config(tmp_path / "api")
    with pytest.raises(Refused) as not_top:
        d1_target.resolve("mirubato-dev", str(config))
    assert str(not_top.value) == (
        f"D1_DATABASE=mirubato-dev is not declared at its top level in {config}"
        " (declared: mirubato-prod (binding DB)). Set WRANGLER_ENV for a database declared"
        " under [env.<name>]. Nothing was run."
    )
    with pytest.raises(Refused) as no_env:
        d1_target.resolve("DB", str(config), env="stagin")
    assert "WRANGLER_ENV=stagin is not an environment of" in str(no_env.value)
    assert "(it has: local, production, staging)" in str(no_env.value)
    with pytest.raises(Refused) as typo:
        d1_target.resolve("mirubato-prd", str(config), env="production", remote=True)
    assert "is not declared under [env.production]" in str(typo.value)


def test_a_jsonc_config_is_read_as_wrangler_reads_it(tmp_path):
    config = tmp_path / "wrangler.jsonc"
    config.write_text(
        '{\n  // the app\n  "name": "api", /* D1 */\n  "env": {"staging": {"d1_databases": [\n'
        '    {"binding": "DB", "database_name": "db // not a comment",'
        ' "database_id": "id-1"},\n  ]}},\n}\n'
    )
    staging = d1_target.resolve("DB", str(config), env="staging")
    assert (staging.database_name, staging.local_id) == ("db // not a comment", "id-1")


def test_the_lock_says_held_or_cannot_be_created(tmp_path, monkeypatch):
    config = app_config(tmp_path / "api")
    staging = d1_target.resolve("DB", str(config), env="staging")
    lock = tmp_path / "locks" / "one.lock"
    monkeypatch.setattr(d1_target.Target, "lock_file", lambda self: lock)
    copy = tmp_path / "copy.db"
    with held(lock), pytest.raises(LockError) as busy, database_lock(staging, copy):
        pass
    assert busy.value.exit_code == EXIT_LOCKED == 75
    assert "is still going" in str(busy.value)
    # a file where the lock's folder should be: it cannot be created
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setattr(d1_target.Target, "lock_file", lambda self: blocked / "x.lock")
    with pytest.raises(LockError) as cannot, database_lock(staging, copy):
        pass
    assert cannot.value.exit_code == EXIT_CANTCREAT == 73
    assert f"cannot create the lock file {blocked / 'x.lock'}" in str(cannot.value)


# --- 2. a blank filter never widens a run -------------------------------------

BLANK_FORMS = {
    "USER_ID= on the command line": (["USER_ID="], {}),
    "USER_ID=$unset through the shell": (["USER_ID=$uid"], {"via": "bash"}),
    "'USER_ID=$x', which make expands": (["USER_ID=$x"], {}),
    "blanks": (["USER_ID=  "], {}),
    "ENTITIES= , ": (["ENTITIES= , "], {}),
    "ENTITY=": (["ENTITY="], {}),
    "USER_ID empty in the environment": ([], {"USER_ID": ""}),
}
TARGETS = {
    "run": [],
    "dry-run": ["TARGET=prod"],
    "migrate": ["TARGET=prod"],
    "rollback": ["TARGET=prod", "ENTITY=goal", "DRY_RUN=1"],
    "verify": ["TARGET=prod"],
    "d1-pull": [],
    "d1-migrate": [],
    "d1-push": [],
    "d1-sync": ["DRY_RUN=1"],
}


@pytest.mark.parametrize("form", BLANK_FORMS)
@pytest.mark.parametrize("make_target", TARGETS)
def test_a_blank_filter_is_refused_on_every_make_target(tmp_path, db, form, make_target):
    args, env = BLANK_FORMS[form]
    if make_target == "rollback" and args and args[0].startswith("ENTITY="):
        args = ["USER_ID="]  # rollback's own ENTITY=goal stays; the blank is USER_ID
    before = db.read_bytes()
    env = dict(env)
    command = ["make", "--no-print-directory", make_target, *TARGETS[make_target], *args]
    if env.pop("via", None):
        command = ["bash", "-c", " ".join(command)]  # the shell expands $uid to nothing
    proc = run(
        command,
        {**ENV, "SYNC_DB_PATH": str(db), "D1_DATABASE": "DB", "WRANGLER_CONFIG": "x", **env},
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "given but blank, which would widen the run to every row; nothing was run" in (
        proc.stderr
    )
    assert "Running with dbt" not in proc.stdout and "d1-" not in proc.stdout
    assert db.read_bytes() == before


@pytest.mark.parametrize("mode", ["prod", "d1"])
def test_a_blank_filter_is_refused_by_the_weekly_job(tmp_path, db, mode):
    before = db.read_bytes()
    proc = run(
        ["scripts/weekly_sync.sh", mode, str(tmp_path / "weekly.log")],
        {**ENV, "SYNC_DB_PATH": str(db), "USER_ID": "", "D1_DATABASE": "DB"},
    )
    assert proc.returncode == 2
    assert "USER_ID= is given but blank, which would widen the run to every user" in proc.stderr
    assert db.read_bytes() == before


def test_the_weekly_job_honours_a_filter_it_is_given(production_like, tmp_path):  # noqa: F811
    """It used to ignore USER_ID and migrate everyone."""
    proc = run(
        ["scripts/weekly_sync.sh", "prod", str(tmp_path / "weekly.log")],
        {**ENV, "SYNC_DB_PATH": str(production_like), "USER_ID": "u_alice", "ENTITY": "goal"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with sqlite3.connect(production_like) as conn:
        runs = conn.execute(
            "select user_id_filter, entity_types_filter from migration_runs"
            " where target_name = 'prod'"
        ).fetchall()
    assert runs == [("u_alice", "goal")]


# --- 3. the weekly job's lock -------------------------------------------------


def test_a_read_only_folder_is_not_a_held_lock(tmp_path, db, mount):
    folder = mount("4m", "readonly")
    shutil.copy(db, folder / "prod.db")
    read_only(folder)
    proc = run(
        ["scripts/weekly_sync.sh", "prod", str(tmp_path / "weekly.log")],
        {**ENV, "SYNC_DB_PATH": str(folder / "prod.db")},
    )
    assert proc.returncode == 73, proc.stdout + proc.stderr
    assert f"cannot create the lock file {folder / 'prod.db'}.lock" in proc.stderr
    assert "Read-only file system" in proc.stderr
    assert "still going" not in proc.stderr


def test_a_held_lock_is_exit_75(tmp_path, db):
    with held(f"{db}.lock"):
        proc = run(
            ["scripts/weekly_sync.sh", "prod", str(tmp_path / "weekly.log")],
            {**ENV, "SYNC_DB_PATH": str(db)},
        )
    assert proc.returncode == 75
    assert "is still going" in proc.stderr


# --- 4 and 6. one lock per database, exit codes through make and cron ---------


def test_every_d1_step_waits_for_the_lock_of_its_database(tmp_path):
    """A pull during a push would delete the patch being applied: every step,
    through any name of the database, takes the one lock."""
    config = app_config(tmp_path / "api")
    lock = d1_target.resolve("mirubato-prod", str(config)).lock_file()
    env = {**ENV, "WRANGLER_CONFIG": str(config), "D1_DATABASE": "DB"}
    with held(lock):
        for step in ("pull", "migrate", "patch", "push", "sync"):
            proc = run([PYTHON, "scripts/d1", step], env)
            assert proc.returncode == 75, (step, proc.stderr)
            assert "is still going" in proc.stderr and f"lock {lock} is held" in proc.stderr
        through_make = run(["make", "--no-print-directory", "d1-pull"], env)
        # make says 2 for any failure of a recipe; the cause is on stderr
        assert through_make.returncode == 2
        assert "is still going" in through_make.stderr
        weekly = run(
            ["scripts/weekly_sync.sh", "d1", str(tmp_path / "w.log")],
            {**env, "WRANGLER_ENV": "production"},
        )
        assert weekly.returncode == 75, weekly.stdout + weekly.stderr
        assert "is still going" in weekly.stdout
    assert not d1_target.resolve("DB", str(config)).default_file().exists()


def test_the_weekly_d1_job_exits_with_the_failing_steps_code(tmp_path):
    config = app_config(tmp_path / "api")
    env = {**ENV, "WRANGLER_CONFIG": str(config), "D1_DATABASE": "mirubato-dev"}
    refused = run(["scripts/weekly_sync.sh", "d1", str(tmp_path / "w.log")], env)
    assert refused.returncode == 2
    assert "D1_DATABASE=mirubato-dev is not declared at its top level" in refused.stdout
    assert "finished: exit code 2" in refused.stdout
    # a step that fails: a database without the app's tables stops the pull
    empty = LocalD1(tmp_path / "empty", name="DB")
    empty.execute("create table t (x)")
    failed = run(
        ["scripts/weekly_sync.sh", "d1", str(tmp_path / "w.log")],
        {k: v for k, v in empty.make_env(D1_FILE=None).items()},
    )
    assert failed.returncode == 1, failed.stdout
    assert "d1-pull: " in failed.stdout and "it is not the app's database" in failed.stdout
    assert "finished: exit code 1" in failed.stdout


# --- 5. an honest history -----------------------------------------------------


def history_row(run_id, entity_type, status="success", **counts):
    row = {
        "id": f"{run_id}:{entity_type}",
        "run_id": run_id,
        "entity_type": entity_type,
        "status": status,
        "started_at": "2026-12-06 10:00:00",
        "inserted_count": 0,
        "updated_count": 0,
        "tombstoned_count": 0,
        "revived_count": 0,
        "conflict_count": 0,
        "is_new": 1,
    }
    row.update(counts)
    return row


def test_the_history_counts_what_reached_d1():
    rows = [
        history_row("r1", "goal", inserted_count=5, updated_count=2, conflict_count=1),
        history_row("r1", "practice_session", inserted_count=3),
        history_row("r1", "logbook_entry"),  # wrote nothing: a true verdict
        history_row("r0", "goal", status="failed"),
        history_row("rb", "goal", status="rolled_back", tombstoned_count=2),
        {**history_row("old", "goal", status="failed"), "is_new": 0},  # reshaped by an upgrade
    ]
    applied = {("goal", "insert"): 4, ("goal", "update"): 1, ("goal", "tombstone"): 2}
    kept, left_out = corrected_history(rows, applied, "d1 local db [k]")
    by_id = {r["id"]: r for r in kept}
    assert set(by_id) == {"r1:goal", "r1:logbook_entry", "rb:goal", "old:goal"}
    assert (by_id["r1:goal"]["inserted_count"], by_id["r1:goal"]["updated_count"]) == (4, 1)
    assert by_id["rb:goal"]["tombstoned_count"] == 2
    assert by_id["r1:goal"]["conflict_count"] == 0
    assert by_id["r1:goal"]["target_name"] == "d1 local db [k]"
    assert "target_name" not in by_id["old:goal"]
    assert dict(left_out) == {
        "r1:practice_session": "none of its 3 write(s) reached D1",
        "r0:goal": "failed on the local copy",
    }


def test_a_run_undone_on_the_copy_before_the_push_claims_nothing():
    """migrate (12 goal inserts), a rollback of the copy (deletes, on a D1
    without seq: never pushed), migrate again (12): 12 reached D1, and only
    the newest run says so."""
    first = {**history_row("a", "goal", inserted_count=12), "started_at": "2026-12-06 10:00:00"}
    rollback = {
        **history_row("b", "goal", status="rolled_back", deleted_count=12),
        "started_at": "2026-12-06 10:05:00",
    }
    again = {**history_row("c", "goal", inserted_count=12), "started_at": "2026-12-06 10:10:00"}
    kept, left_out = corrected_history([first, rollback, again], {("goal", "insert"): 12})
    assert [(r["id"], r["inserted_count"]) for r in kept] == [("c:goal", 12)]
    assert dict(left_out) == {
        "a:goal": "none of its 12 write(s) reached D1",
        "b:goal": "none of its 12 write(s) reached D1",
    }


def d1_name(d1):
    """The target_name a run pushed to d1 has in D1's history."""
    key = d1_target.resolve(d1.name, str(d1.config), env=d1.env).key
    return f"d1 local {d1.name} [{key}]"


def d1_runs(d1):
    return {
        (r["entity_type"], r["inserted_count"])
        for r in d1.rows(
            "select entity_type, inserted_count from migration_runs"
            f" where target_name = '{d1_name(d1)}' and status = 'success'"
        )
    }


def test_writes_the_push_skipped_are_not_counted_in_d1(tmp_path, template_db):
    d1 = pulled_d1(tmp_path, template_db)  # after make d1-pull
    make(d1, "d1-migrate", USER_ID="u_chen", ENTITY="goal")
    copy = Path(d1.make_env()["D1_FILE"])
    with sqlite3.connect(copy) as conn:
        chen = [r[0] for r in conn.execute("select entity_id from sync_data")]
        local = conn.execute(
            "select inserted_count from migration_runs where target_name = 'staging'"
        ).fetchall()
    assert local == [(len(chen),)] and len(chen) == 3
    # devices push every one of those keys before the push
    for entity_id in chen:
        api_insert(d1, "u_chen", "goal", entity_id, {"id": entity_id, "title": "from a phone"})
    pushed = make(d1, "d1-push")
    assert "sync_data 0 applied, 3 skipped, 0 not applied" in pushed.stdout
    assert "not recorded, as nothing of them reached D1" in pushed.stdout
    staging_runs = f"select count(*) as n from migration_runs where target_name = '{d1_name(d1)}'"
    assert d1.rows(staging_runs) == [{"n": 0}]
    # a run one of whose writes is skipped records the others only
    make(d1, "d1-pull")
    make(d1, "d1-migrate", ENTITY="practice_session")
    api_insert(d1, "u_alice", "practice_session", "ps_001", {"id": "ps_001"})
    make(d1, "d1-push")
    with sqlite3.connect(copy) as conn:
        (local_count,) = conn.execute(
            "select inserted_count from migration_runs"
            " where target_name = 'staging' and entity_type = 'practice_session'"
        ).fetchone()
    assert d1_runs(d1) == {("practice_session", local_count - 1)}
    # a second push of the same patch records nothing twice
    again = make(d1, "d1-push")
    assert "recorded in D1 by an earlier push" in again.stdout
    assert d1.rows(staging_runs) == [{"n": 1}]


# --- 1. end to end: the app's config, two databases bound as DB ----------------


def test_a_patch_never_reaches_another_database_bound_as_db(tmp_path, template_db):
    """Two apps' configs, each binding its database as DB: their copies,
    patches and locks are apart, and a patch is refused by the other."""
    b = seeded_d1(tmp_path / "b", template_db, name="DB")
    a = LocalD1(tmp_path / "a" / "app", name="DB")
    a.load_sqlite(tmp_path / "b" / "seed.db")
    defaults = {"D1_FILE": None}
    make(b, "d1-pull", **defaults)
    make(b, "d1-migrate", **defaults)
    b_file = d1_target.resolve("DB", str(b.config)).default_file()
    a_file = d1_target.resolve("DB", str(a.config)).default_file()
    assert b_file != a_file and (b_file.parent / f"{b_file.name}.patch").exists()
    # A's config finds no patch of its own ...
    no_patch = make(a, "d1-push", expect_ok=False, **defaults)
    assert f"no patch in {a_file}.patch" in no_patch.stderr
    # ... and B's file named by hand is refused, naming both databases
    crossed = make(a, "d1-push", expect_ok=False, D1_FILE=str(b_file))
    assert f"was pulled from local D1 database DB [{b_file.name[-15:-3]}] of {b.config}" in (
        crossed.stderr
    )
    assert f"not from wrangler's local D1 database DB [{a_file.name[-15:-3]}]" in crossed.stderr
    migrate = make(a, "d1-migrate", expect_ok=False, D1_FILE=str(b_file))
    assert "d1-migrate refused, nothing changed" in migrate.stderr
    assert a.rows("select count(*) as n from sync_data") == [{"n": 0}]
    assert "migration_ledger" not in {
        r["name"] for r in a.rows("select name from sqlite_master where type = 'table'")
    }
    shutil.rmtree(b_file.parent / f"{b_file.name}.patch")
    for suffix in ("", ".pulled.db", ".dbt-work"):
        Path(f"{b_file}{suffix}").unlink(missing_ok=True)


def test_wrangler_env_reaches_the_staging_database_of_the_apps_config(tmp_path, template_db):
    staging = seeded_d1(tmp_path, template_db, name="DB", env="staging", config_text=APP_CONFIG)
    production = LocalD1(tmp_path / "app", name="DB", config_text=APP_CONFIG)
    production.execute("create table marker (x)")
    synced = make(staging, "d1-sync")
    assert "sync_data 54 insert(s)" in synced.stdout
    assert "mirubato-dev (env staging)" in synced.stdout
    assert staging.rows("select count(*) as n from sync_data") == [{"n": 54}]
    tables = {r["name"] for r in production.rows("select name from sqlite_master")}
    assert {t for t in tables if not t.startswith("_cf_")} == {"marker"}
    # production's name on the staging pull: refused
    crossed = make(production, "d1-push", expect_ok=False, D1_FILE=staging.make_env()["D1_FILE"])
    assert "was pulled from local D1 database mirubato-dev (env staging)" in crossed.stderr
    assert "not from wrangler's local D1 database mirubato-prod [" in crossed.stderr


# --- 7. messages that name the cause -------------------------------------------


def test_a_load_failure_names_its_cause(tmp_path):
    path = tmp_path / "copy.db.pulling"
    assert load_failure("Runtime error near line 9: database or disk is full (13)", path) == (
        f"the disk is full: cannot write {path}. Free space there and pull again."
    )
    infinity = load_failure("Parse error near line 4: no such column: Infinity", path)
    assert "REAL ±Infinity" in infinity
    other = load_failure("Parse error near line 4: unrecognized token", path)
    assert "Infinity" not in other and "unrecognized token" in other


@pytest.mark.parametrize(
    ("size", "stage"),
    # measured on the sample: 60 KB stops the export's load, 100 KB the snapshot
    [("60k", ".pulling"), ("100k", ".pulling.pulled.db")],
)
def test_a_full_disk_during_the_pull_is_one_line_naming_it(
    tmp_path, template_db, mount, size, stage
):
    d1 = seeded_d1(tmp_path / "d1", template_db)
    disk = mount(size, f"disk{size}")
    proc = make(d1, "d1-pull", expect_ok=False, D1_FILE=str(disk / "copy.db"))
    message = [line for line in proc.stderr.splitlines() if line.startswith("d1-pull:")]
    assert len(message) == 1, proc.stderr
    assert f"cannot write {disk / 'copy.db'}{stage}" in message[0]
    assert "the disk is full" in message[0]
    assert "Infinity" not in proc.stderr and "Traceback" not in proc.stderr
    # nothing but the copy's lock file is left
    assert sorted(p.name for p in disk.iterdir()) == ["copy.db.lock"]


def test_a_read_only_patch_folder_is_refused_before_d1_is_written(tmp_path, template_db, mount):
    d1 = seeded_d1(tmp_path / "d1", template_db)
    disk = mount("8m", "copy")
    env = {"D1_FILE": str(disk / "copy.db")}
    make(d1, "d1-pull", **env)
    make(d1, "d1-migrate", **env)
    read_only(disk)
    proc = make(d1, "d1-push", expect_ok=False, **env)
    assert f"the patch folder {disk / 'copy.db.patch'} cannot be written" in proc.stderr
    assert "Read-only file system" in proc.stderr and "Traceback" not in proc.stderr
    assert d1.rows("select count(*) as n from sync_data") == [{"n": 0}]


def test_text_that_is_not_utf8_is_named_not_retried(tmp_path, template_db):
    d1 = seeded_d1(tmp_path, template_db)
    d1.execute(
        "update logbook_entries set notes = cast(x'4c61ff67' as text)"
        " where id = (select min(id) from logbook_entries)"
    )
    (first,) = d1.rows("select min(id) as id from logbook_entries")
    proc = make(d1, "d1-pull", expect_ok=False)
    assert "D1 changed during the pull" not in proc.stdout + proc.stderr
    assert (
        f"D1 holds text that is not valid UTF-8 in logbook_entries.notes of 1 row(s)"
        f" ({first['id']})" in proc.stderr
    )
    assert not Path(d1.make_env()["D1_FILE"]).exists()


def test_the_pull_records_which_database_it_read(tmp_path, template_db):
    d1 = seeded_d1(tmp_path, template_db)
    make(d1, "d1-pull")
    snapshot = Path(d1.make_env()["D1_FILE"] + ".pulled.db")
    with sqlite3.connect(snapshot) as conn:
        info = json.loads(conn.execute("select info from pull_info").fetchone()[0])
    expected = d1_target.resolve("practice", str(d1.config))
    assert info["target"]["identity"] == {
        "where": "local",
        "persist_to": str(d1.config.parent / ".wrangler" / "state"),
        "id": "6f1c2a4e-0000-4000-8000-000000000001",
    }
    assert info["target"]["key"] == expected.key


# --- one row or one user never stops every week's job (issue 24) -------------


def test_a_user_deleted_between_pull_and_push_is_skipped_and_reported(tmp_path, template_db):
    d1 = pulled_d1(tmp_path, template_db)  # after make d1-pull
    make(d1, "d1-migrate")
    copy = Path(d1.make_env()["D1_FILE"])
    with sqlite3.connect(copy) as conn:
        total, chen = conn.execute(
            "select count(*), count(case when user_id = 'u_chen' then 1 end) from sync_data"
        ).fetchone()
    assert chen > 0
    # the API deletes the account, its rows first
    d1.execute(
        "update logbook_entries set session_id = null where session_id in"
        " (select id from practice_sessions where user_id = 'u_chen');"
        " delete from logbook_entries where user_id = 'u_chen';"
        " delete from goals where user_id = 'u_chen';"
        " delete from practice_sessions where user_id = 'u_chen';"
        " delete from sync_data where user_id = 'u_chen';"
        " delete from users where id = 'u_chen';"
    )
    pushed = make(d1, "d1-push")
    assert f"sync_data {total - chen} applied, {chen} skipped, 0 not applied" in pushed.stdout
    assert "u_chen/goal/goal_003 (its user was deleted after the pull)" in pushed.stdout
    assert d1.rows("select count(*) as n from sync_data") == [{"n": total - chen}]
    # every other user's rows arrived, and a second push finds nothing to do
    again = make(d1, "d1-push")
    assert f"sync_data {total - chen} applied, {chen} skipped, 0 not applied" in again.stdout


def test_a_patch_made_stale_by_a_later_run_still_pushes_and_says_so(tmp_path, template_db):
    d1 = pulled_d1(tmp_path, template_db)  # after make d1-pull
    make(d1, "d1-migrate")
    copy = Path(d1.make_env()["D1_FILE"])
    # a later run on the copy, after the patch was written
    with sqlite3.connect(copy) as conn:
        conn.execute("update goals set title = 'Changed on the copy' where id = 'goal_001'")
    subprocess.run(
        ["make", "--no-print-directory", "migrate", "TARGET=staging", f"SYNC_DB_PATH={copy}"],
        cwd=PROJECT_DIR,
        env=ENV,
        capture_output=True,
        check=True,
    )
    pushed = make(d1, "d1-push")
    assert "sync_data 54 applied, 0 skipped, 0 not applied" in pushed.stdout
    assert "the copy has changed since this patch was written" in pushed.stdout
    (goal,) = d1.rows("select data from sync_data where entity_id = 'goal_001'")
    assert "Changed on the copy" not in goal["data"]


def test_wrangler_never_takes_its_environment_from_elsewhere(tmp_path, monkeypatch):
    """CLOUDFLARE_ENV and .env files would point wrangler at another
    environment than the identity's: refused, and never passed on."""
    config = app_config(tmp_path / "api")
    env = {**ENV, "WRANGLER_CONFIG": str(config), "D1_DATABASE": "DB", "CLOUDFLARE_ENV": "staging"}
    proc = run([PYTHON, "scripts/d1", "pull"], env)
    assert proc.returncode == 2
    assert "CLOUDFLARE_ENV=staging is set, and wrangler would take it" in proc.stderr
    import wrangler as wrangler_module

    seen = {}

    def fake_run(command, **kwargs):
        seen.update(command=command, env=kwargs["env"])
        return subprocess.CompletedProcess(command, 0, "[]", "")

    monkeypatch.setattr(wrangler_module.subprocess, "run", fake_run)
    monkeypatch.setenv("CLOUDFLARE_ENV", "staging")
    tool = wrangler_module.Wrangler(d1_target.resolve("DB", str(config)))
    tool._run(["execute", "DB", "--local", "--command", "select 1"])
    assert "CLOUDFLARE_ENV" not in seen["env"]
    at = seen["command"].index("--env-file")
    assert seen["command"][at + 1] == "/dev/null" and "--env" not in seen["command"]


def test_two_databases_sharing_one_copy_share_its_lock(tmp_path):
    config_a, config_b = app_config(tmp_path / "a"), app_config(tmp_path / "b")
    copy = tmp_path / "shared.db"
    with held(f"{copy}.lock"):
        for config in (config_a, config_b):
            proc = run(
                [PYTHON, "scripts/d1", "pull"],
                {**ENV, "WRANGLER_CONFIG": str(config), "D1_DATABASE": "DB", "D1_FILE": str(copy)},
            )
            assert proc.returncode == 75, proc.stderr
            assert f"another step on {copy} is still going" in proc.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["migrate", "TARGET=prod"],
        ["dry-run", "TARGET=prod"],
        ["rollback", "TARGET=prod", "ENTITY=goal", "CONFIRM=1"],
    ],
)
def test_make_steps_on_a_file_take_its_lock(db, command):
    """A migrate or rollback on a D1 copy while a d1 step (or the weekly job)
    holds it would change what the push is checked against."""
    before = db.read_bytes()
    with held(f"{db}.lock"):
        proc = run(["make", "--no-print-directory", *command, f"SYNC_DB_PATH={db}"], ENV)
    assert proc.returncode == 2  # make's code; the cause is on stderr
    assert f"another run on {db} is still going (lock {db}.lock is held)" in proc.stderr
    assert db.read_bytes() == before


def make_rollback_of_goals(db, *args):
    command = ["make", "--no-print-directory", "rollback", "TARGET=prod", "ENTITY=goal"]
    return run([*command, f"SYNC_DB_PATH={db}", *args], ENV)


@pytest.mark.parametrize("value", ["", "on", "y", " "])
def test_a_dry_run_that_is_not_1_or_0_is_refused(db, tmp_path, value):
    """DRY_RUN= read as false would be a real run (a rollback deleted rows)."""
    before = db.read_bytes()
    proc = make_rollback_of_goals(db, f"DRY_RUN={value}")
    assert proc.returncode == 2
    assert f"DRY_RUN={value.strip()} is neither 1 nor 0" in proc.stderr
    d1 = run([PYTHON, "scripts/d1", "sync"], {**ENV, "DRY_RUN": value, "D1_DATABASE": "DB"})
    assert d1.returncode == 2 and "is neither 1 nor 0" in d1.stderr
    assert db.read_bytes() == before


@pytest.mark.parametrize(
    "args",
    [
        ["user_id=u_alice"],  # make would ignore a lower-case name
        ["UID=u_alice"],
        ["USERID=u_alice"],
    ],
)
def test_a_variable_the_makefile_does_not_read_is_refused(db, args):
    proc = make_rollback_of_goals(db, "DRY_RUN=1", *args)
    assert proc.returncode == 2
    assert f"make: {args[0].split('=')[0]}= is not a variable of this Makefile" in proc.stderr


@pytest.mark.parametrize("make_target", ["d1-push", "d1-pull", "run", "verify"])
def test_a_filter_a_target_does_not_read_is_refused(make_target):
    proc = run(["make", "--no-print-directory", make_target, "USER_ID=u_alice"], ENV)
    assert proc.returncode == 2
    assert f"make: {make_target} reads no filter, so USER_ID= would narrow nothing" in (proc.stderr)


def test_a_null_filter_through_dbt_is_refused(db):
    """`--vars "{user_id: $uid}"` with uid unset is YAML's null."""
    migrate = run_dbt(
        db, "run", "--target", "prod", "--vars", "{user_id: , dry_run: true}", expect_ok=False
    )
    assert "The var user_id is given but empty" in migrate.stdout
    rollback = run_dbt(
        db,
        "run-operation",
        "rollback_sync_data",
        "--target",
        "prod",
        "--args",
        "{entity_type: goal, user_id: , dry_run: true}",
        expect_ok=False,
    )
    assert "rollback_sync_data: user_id is given but empty" in rollback.stdout


@pytest.mark.parametrize(
    ("config_name", "text", "message"),
    [
        ("wrangler.toml", b"name = '\xff'\n", "does not parse"),
        ("wrangler.toml", b'env = "staging"\n', "has an `env` that is not a table"),
        ("wrangler.json", b"[1, 2]", "is not a table of settings"),
        ("wrangler.toml", b"d1_databases = 'DB'\n", "d1_databases at its top level in"),
    ],
)
def test_a_broken_config_is_one_line(tmp_path, config_name, text, message):
    config = tmp_path / config_name
    config.write_bytes(text)
    env = {**ENV, "WRANGLER_CONFIG": str(config), "D1_DATABASE": "DB"}
    if b"env" in text:
        env["WRANGLER_ENV"] = "staging"
    proc = run([PYTHON, "scripts/d1", "pull"], env)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_damaged_manifest_or_a_folder_for_d1_file_is_one_line(tmp_path):
    config = app_config(tmp_path / "api")
    env = {**ENV, "WRANGLER_CONFIG": str(config), "D1_DATABASE": "DB"}
    copy = tmp_path / "copy.db"
    (tmp_path / "copy.db.patch").mkdir()
    (tmp_path / "copy.db.patch" / "manifest.json").write_text('{"pulled": ')
    damaged = run([PYTHON, "scripts/d1", "push"], {**env, "D1_FILE": str(copy)})
    assert damaged.returncode == 2
    assert f"the patch's manifest {tmp_path / 'copy.db.patch' / 'manifest.json'}" in (
        damaged.stderr
    )
    assert "Traceback" not in damaged.stderr
    folder = run([PYTHON, "scripts/d1", "pull"], {**env, "D1_FILE": str(tmp_path)})
    assert folder.returncode == 2
    assert f"D1_FILE={tmp_path} is a folder" in folder.stderr


# The seeded D1 after its first make d1-sync, made once per module and copied
# (config, wrangler's state, the pulled copy with its work file and pushed
# patch) for the tests that start from a synced D1. Their next step is a pull,
# which records the copy's own identity again.
@pytest.fixture(scope="module")
def synced_cache(tmp_path_factory, template_db):
    cached = tmp_path_factory.mktemp("synced_d1")
    make(seeded_d1(cached, template_db), "d1-sync")
    return cached


@pytest.fixture
def synced_d1(synced_cache, tmp_path):
    """seeded_d1 after one make d1-sync."""
    shutil.copy(synced_cache / "seed.db", tmp_path / "seed.db")
    shutil.copytree(synced_cache / "app", tmp_path / "app", symlinks=True)
    return LocalD1(tmp_path / "app")


def test_d1_rollback_tombstones_with_fresh_seq_and_the_next_sync_revives(synced_d1):
    """Contract, "Rollback where devices sync by seq", through make d1-rollback."""
    d1 = synced_d1  # after make d1-sync
    before = {
        r["entity_id"]: r
        for r in d1.rows(
            "select entity_id, version, seq, data from sync_data where entity_type = 'goal'"
        )
    }
    (top,) = d1.rows("select current_value as n from sync_sequence")
    dry = make(d1, "d1-rollback", ENTITY="goal", DRY_RUN="1")
    assert "would tombstone 12 rows the migration owns" in dry.stdout
    assert d1.rows("select count(*) as n from sync_data where deleted_at is not null") == [{"n": 0}]
    refused = make(d1, "d1-rollback", expect_ok=False)
    assert "make rollback needs ENTITY=<type>, USER_ID=<id>, or ALL=1 CONFIRM=1" in refused.stderr
    done = make(d1, "d1-rollback", ENTITY="goal")
    assert "sync_data 12 applied, 0 skipped, 0 not applied" in done.stdout
    rows = d1.rows(
        "select entity_id, version, seq, data, deleted_at from sync_data"
        " where entity_type = 'goal' order by seq"
    )
    assert [r["seq"] for r in rows] == list(range(top["n"] + 1, top["n"] + 13))
    for row in rows:
        assert row["deleted_at"] is not None
        assert row["version"] == before[row["entity_id"]]["version"] + 1
        assert row["data"] == before[row["entity_id"]]["data"]
    assert d1.rows("select count(*) as n from sync_data where deleted_at is not null") == [
        {"n": 12}
    ]
    (history,) = d1.rows(
        "select status, tombstoned_count, target_name from migration_runs"
        " where status = 'rolled_back' and entity_type = 'goal'"
    )
    assert (history["tombstoned_count"], history["target_name"]) == (12, d1_name(d1))
    assert d1.rows(
        "select count(*) as n from migration_ledger where entity_type = 'goal'"
        " and backend_deleted = 1"
    ) == [{"n": 12}]
    # the next weekly run revives them: the backend rows are live
    make(d1, "d1-sync")
    revived = d1.rows(
        "select entity_id, version, seq, deleted_at from sync_data where entity_type = 'goal'"
    )
    assert all(r["deleted_at"] is None for r in revived)
    assert all(r["version"] == before[r["entity_id"]]["version"] + 2 for r in revived)
    assert min(r["seq"] for r in revived) == top["n"] + 13


def test_a_pull_during_a_running_push_waits_its_turn(tmp_path, template_db):
    """Issue 23, 6: the pull used to delete the patch being applied."""
    d1 = pulled_d1(tmp_path, template_db)  # after make d1-pull
    make(d1, "d1-migrate", D1_PART_BYTES=3000)
    patch = Path(d1.make_env()["D1_FILE"] + ".patch")
    parts = json.loads((patch / "manifest.json").read_text())["parts"]
    assert len(parts) > 10
    push = subprocess.Popen(
        ["make", "--no-print-directory", "d1-push"],
        cwd=PROJECT_DIR,
        env=d1.make_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # once the push has applied a part, it is under way
        first = push.stdout.readline()
        while first and "part 1/" not in first:
            first = push.stdout.readline()
        assert "part 1/" in first
        pulled = make(d1, "d1-pull", expect_ok=False)
        assert "is still going" in pulled.stderr
        rest, errors = push.communicate(timeout=600)
    finally:
        push.kill()
    assert push.returncode == 0, errors
    assert "sync_data 54 applied, 0 skipped, 0 not applied" in rest
    assert all((patch / part).exists() for part in parts)


def test_values_d1_holds_that_the_export_or_the_row_limit_trip_over(tmp_path, template_db):
    """In one D1, one round trip: a NUL in text (the export writes it raw),
    1.5 MB of newlines and backslashes (the export alters it; hex() of it
    would pass D1's 2 MB limit, so it is read in slices), an integer past
    2^53, and 1.05 MB of quotes and backslashes, a legal D1 row whose JSON
    passes 2,000,000 bytes: a too_large_for_d1 reject, not a failed push."""
    d1 = seeded_d1(tmp_path, template_db)
    line = "C:\\new folder\\notes.txt\n" + "é" * 40 + "\r\n"
    piece = line * (61_000 // len(line.encode()))
    notes = piece * 25
    assert 1_500_000 <= len(notes.encode()) < 1_560_000
    quotes = '"\\' * 35_000
    d1.execute(
        ";\n".join(
            [
                "update logbook_entries set notes = 'before' || char(0) || 'after' || char(10)"
                " || 'x' where id = 'le_001'",
                "update goals set description = char(0) where id = 'goal_002'",
                "update logbook_entries set duration = 9007199254740993 where id = 'le_003'",
                "update logbook_entries set notes = '' where id in ('le_002', 'le_004')",
            ]
            + [f"update logbook_entries set notes = notes || '{piece}' where id = 'le_002'"] * 25
            + [f"update logbook_entries set notes = notes || '{quotes}' where id = 'le_004'"] * 15
        )
    )
    pulled = make(d1, "d1-pull")
    # the two NULs, the long text (in slices) and the big integer
    assert "4 value(s) the export altered, read again from D1" in pulled.stdout
    copy = d1.make_env()["D1_FILE"]
    with sqlite3.connect(copy) as conn:
        by_id = dict(conn.execute("select id, notes from logbook_entries"))
        assert by_id["le_002"] == notes
        assert by_id["le_001"] == "before\0after\nx"
        assert conn.execute(
            "select duration from logbook_entries where id = 'le_003'"
        ).fetchone() == (9007199254740993,)
    migrated = make(d1, "d1-migrate")
    assert "rejected logbook_entry too_large_for_d1: 1 row(s)" in migrated.stdout
    make(d1, "d1-push")
    expected = oracle_for_database(copy)
    # the NULs arrive as JSON escapes, checksum and all
    for key in (("logbook_entry", "le_001"), ("goal", "goal_002"), ("logbook_entry", "le_003")):
        (row,) = d1.rows(
            "select data, checksum from sync_data"
            f" where entity_type = '{key[0]}' and entity_id = '{key[1]}'"
        )
        assert (row["data"], row["checksum"]) == (expected[key]["data"], expected[key]["checksum"])
    assert '"notes":"before\\u0000after\\nx"' in expected[("logbook_entry", "le_001")]["data"]
    # the 1.5 MB document, read back from D1 in slices
    big = expected[("logbook_entry", "le_002")]
    assert len(big["data"].encode()) > 1_500_000
    slices = [
        d1.rows(
            f"select substr(data, {start}, 300000) as part from sync_data"
            " where entity_id = 'le_002'"
        )[0]["part"]
        for start in range(1, len(big["data"]) + 1, 300_000)
    ]
    assert "".join(slices) == big["data"]
    # the row past D1's limit: a reject with its size, and no sync_data row
    (reject,) = d1.rows(
        "select entity_id, reason from migration_rejects where reason like 'too_large_for_d1%'"
    )
    assert reject["entity_id"] == "le_004"
    assert reject["reason"].startswith("too_large_for_d1: data: the sync_data row would be ")
    assert reject["reason"].endswith(" bytes, over D1's 2000000-byte row limit")
    assert d1.rows("select count(*) as n from sync_data where entity_id = 'le_004'") == [{"n": 0}]
    assert d1.rows("select count(*) as n from sync_data") == [{"n": 53}]
    # on a plain SQLite file there is no D1 limit: the row migrates
    plain = tmp_path / "plain.db"
    shutil.copy(copy, plain)
    run_dbt(plain, "build", "--target", "prod", "--exclude-resource-type", "unit_test")
    with sqlite3.connect(plain) as conn:
        (size,) = conn.execute(
            "select length(cast(data as blob)) from sync_data where entity_id = 'le_004'"
        ).fetchone()
    assert size > 2_000_000


def test_a_row_the_api_saved_again_unchanged_is_skipped_not_pushed_forever(synced_d1):
    """The guard compares version as well; so must the read-back, or a row
    the API re-saved (same checksum, version + 1) reads as 'not applied'."""
    d1 = synced_d1  # after make d1-sync
    d1.execute("update goals set title = 'A backend edit' where id = 'goal_001'")
    make(d1, "d1-pull")
    make(d1, "d1-migrate")
    d1.execute(
        "update sync_data set version = version + 1,"
        " seq = (select current_value + 1 from sync_sequence where id = 1)"
        " where entity_id = 'goal_001';"
        " update sync_sequence set current_value = current_value + 1 where id = 1;"
    )
    pushed = make(d1, "d1-push")
    assert "sync_data 0 applied, 1 skipped, 0 not applied" in pushed.stdout
    assert "skipped, changed in D1 since the pull: u_alice/goal/goal_001" in pushed.stdout
    # the next sync settles it by the contract: the backend changed, the API did not
    make(d1, "d1-sync")
    (goal,) = d1.rows("select data, version from sync_data where entity_id = 'goal_001'")
    assert '"title":"A backend edit"' in goal["data"]


def test_a_pull_never_discards_a_half_pushed_patch(tmp_path, template_db):
    d1 = pulled_d1(tmp_path, template_db)  # after make d1-pull
    make(d1, "d1-migrate", D1_PART_BYTES=20_000)
    patch = Path(d1.make_env()["D1_FILE"] + ".patch")
    (patch / "push-started").write_text("")  # as a push cut off after some parts
    refused = make(d1, "d1-pull", expect_ok=False)
    assert f"the patch in {patch} was partly pushed and never finished" in refused.stderr
    assert (patch / "manifest.json").exists()
    make(d1, "d1-push")
    make(d1, "d1-pull")  # a finished patch may go
    assert not patch.exists()
