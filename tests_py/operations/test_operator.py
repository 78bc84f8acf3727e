"""Issue 13: every command an operator runs works as documented and says clearly what happened.

The database here holds what production holds: backend rows, and rows the API
wrote itself into sync_data for the same entity types (devices push logbook
entries and goals) and for its own types.
"""

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from conftest import PROJECT_DIR, copy_project, dbt_env, fetch_sync_data, run_dbt, table_digest
from contract_rows import API_ROWS, QUOTED_USER

ALL_KEYS = {
    ("logbook_entry", "le_a"): "u_1",
    ("logbook_entry", "le_b"): "u_1",
    ("logbook_entry", "le_c"): "u_2",
    ("goal", "g_a"): "u_1",
    ("goal", "g_b"): "u_2",
    ("goal", "g_c"): "u_2",
    ("practice_session", "ps_a"): "u_1",
    ("practice_session", "ps_b"): "u_1",
    ("practice_session", "ps_c"): "u_2",
    ("practice_session", "ps_d"): QUOTED_USER,
    ("practice_session", "ps_e"): "u_2",
}


def file_digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make(*args, db=None, expect=0, env=None):
    environment = dbt_env(db or "unused")
    if db is None:
        del environment["SYNC_DB_PATH"]
    environment.update(env or {})
    proc = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == expect, (
        f"make {args}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    )
    return proc


def bash(command, db, cwd=PROJECT_DIR, expect=0):
    proc = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=dbt_env(db),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == expect, f"{command}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def migrated_keys(db):
    api = {(row[2], row[3]) for row in API_ROWS}
    return {key for key in fetch_sync_data(db) if key not in api}


def assert_api_rows_untouched(db, before):
    api_ids = tuple(row[0] for row in API_ROWS)
    with sqlite3.connect(db) as conn:
        after = conn.execute(
            f"select * from sync_data where id in ({', '.join('?' * len(api_ids))}) order by id",
            api_ids,
        ).fetchall()
    assert after == [row for row in before if row[0] in api_ids]


def statuses(db):
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "select entity_type, status, user_id_filter, processed_count, inserted_count"
            " from migration_runs order by entity_type"
        ).fetchall()


UNIT_TEST = "int_goals_documented::goal_defaults"

# Every filter form the README and the operations page show, as written
# there, with the entity types and user it must migrate (and nothing else).
ALL_TYPES = {"logbook_entry", "goal", "practice_session"}
FILTER_FORMS = {
    "dbt build user_id": (""".venv/bin/dbt build --vars '{user_id: "u_2"}'""", ALL_TYPES, "u_2"),
    "dbt build entity_types list": (
        ".venv/bin/dbt build --vars '{entity_types: [goal, practice_session]}'",
        {"goal", "practice_session"},
        None,
    ),
    "dbt build entity_types text": (
        """.venv/bin/dbt build --vars '{entity_types: "goal,practice_session"}'""",
        {"goal", "practice_session"},
        None,
    ),
    "dbt build tag": (".venv/bin/dbt build --select tag:goal+", {"goal"}, None),
    "make migrate USER_ID": ("make migrate TARGET=prod USER_ID=u_1", ALL_TYPES, "u_1"),
    "make migrate quoted USER_ID": (
        "make migrate TARGET=prod USER_ID='o'\"'\"'brien\"; drop table users; --'",
        ALL_TYPES,
        QUOTED_USER,
    ),
    "make migrate ENTITIES": ("make migrate TARGET=prod ENTITIES=goal", {"goal"}, None),
    "make migrate ENTITY": ("make migrate TARGET=prod ENTITY=goal", {"goal"}, None),
    "make migrate both": (
        "make migrate TARGET=prod ENTITIES=logbook_entry,practice_session USER_ID=u_2",
        {"logbook_entry", "practice_session"},
        "u_2",
    ),
}


@pytest.mark.parametrize("form", list(FILTER_FORMS))
def test_every_filter_form_migrates_exactly_its_scope(production_like, form):
    command, types, user = FILTER_FORMS[form]
    before = add_api_rows_snapshot(production_like)
    proc = bash(command, production_like)
    assert migrated_keys(production_like) == {
        key for key, owner in ALL_KEYS.items() if key[0] in types and user in (None, owner)
    }
    assert_api_rows_untouched(production_like, before)
    assert {row[1] for row in statuses(production_like)} == {"success"}
    assert {row[0] for row in statuses(production_like)} == types
    out = proc.stdout
    if command.startswith("make"):
        # production paths run no unit tests
        assert "--exclude-resource-type unit_test" in out
        assert not re.search(r" START \S+ \S+::", out)
    elif "tag:" not in command:
        # a plain dbt build runs them, and they pass whatever the filter
        assert re.search(r"PASS " + re.escape(UNIT_TEST), out)
    # the API's logbook and goal rows in scope are reported, never a failure
    api_in_scope = [row for row in API_ROWS if row[2] in types and user in (None, row[1])]
    for _, owner, entity_type, entity_id, _ in api_in_scope:
        assert f"api rows {entity_type}: 1 sync_data row(s) without a backend row" in out
        assert f"    {entity_id} (user {owner})" in out
    if api_in_scope:
        assert f"WARN {len(api_in_scope)} rows_without_source" in out
    else:
        assert "api rows" not in out


def weekly_job(db, log):
    """scripts/weekly_sync.sh on the prod target, as cron runs it, its run
    report beside the log."""
    return subprocess.run(
        ["scripts/weekly_sync.sh", "prod", str(log)],
        cwd=PROJECT_DIR,
        env=dbt_env(db, REPORT=Path(log).with_name("run_report.html")),
        capture_output=True,
        text=True,
        timeout=600,
    )


def add_api_rows_snapshot(db):
    with sqlite3.connect(db) as conn:
        return conn.execute("select * from sync_data order by id").fetchall()


def test_weekly_job_passes_with_api_rows_and_prints_the_summary(production_like, tmp_path):
    log = tmp_path / "weekly.log"
    proc = weekly_job(production_like, log)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(migrated_keys(production_like)) == len(ALL_KEYS)
    for out in (proc.stdout, log.read_text()):
        assert (
            "migration goal: success processed=3 inserted=3 updated=0 unchanged=0 rejected=0" in out
        )
        assert "api rows logbook_entry: 1 sync_data row(s) without a backend row" in out
        assert "le_device_1 (user u_1)" in out
        assert "finished: exit code 0" in out
    # the terminal gets the story, the log gets everything
    assert " START " not in proc.stdout and " START " in log.read_text()
    assert "unit_test" in log.read_text()  # the command it ran excludes them
    report = tmp_path / "run_report.html"
    assert f"run report: {report}" in proc.stdout
    assert "sync_data migration report: prod" in report.read_text()
    assert UNIT_TEST not in log.read_text()


def test_weekly_job_shows_a_failure_on_stdout(production_like, tmp_path):
    with sqlite3.connect(production_like) as conn:
        conn.execute(
            "insert into sync_data select 'sync_dup', * from (select user_id, entity_type,"
            " entity_id || 'x', data, 'not-a-checksum', 1, null, null, null"
            " from sync_data where id = 'sync_dev_le')"
        )
    log = tmp_path / "weekly.log"
    proc = weekly_job(production_like, log)
    assert proc.returncode == 1
    assert "FAIL 1 is_sha256_of_sync_data_checksum__data" in proc.stdout
    assert "finished: exit code 1" in proc.stdout


def test_rejected_rows_are_listed_with_ids_and_reasons(production_like):
    with sqlite3.connect(production_like) as conn:
        conn.execute("update goals set milestones = '{oops' where id in ('g_a', 'g_b')")
        conn.execute("update logbook_entries set user_id = 'u_ghost' where id = 'le_c'")
    proc = run_dbt(production_like, "run")
    out = proc.stdout
    assert (
        "rejected goal invalid_json: 2 row(s), left out of sync_data and kept in migration_rejects"
        in out
    )
    assert "    g_a (user u_1): invalid_json: milestones: not valid JSON" in out
    assert "    g_b (user u_2): invalid_json: milestones: not valid JSON" in out
    assert "rejected logbook_entry orphan_user: 1 row(s)" in out
    assert "    le_c (user u_ghost): orphan_user: user_id: u_ghost names no user" in out


def test_summary_lists_at_most_five_ids_per_category(production_like):
    with sqlite3.connect(production_like) as conn:
        conn.executemany(
            "insert into goals (id, user_id, title, milestones, created_at, updated_at)"
            " values (?, 'u_1', 't', 'nope', 1, 1)",
            [(f"g_bad_{i}",) for i in range(7)],
        )
    out = run_dbt(production_like, "run").stdout
    assert "rejected goal invalid_json: 7 row(s)" in out
    listed = re.findall(r"    (g_bad_\d) \(user u_1\)", out)
    assert listed == [f"g_bad_{i}" for i in range(5)]
    assert "... and 2 more: select * from migration_rejects" in out


def test_unknown_var_is_an_error_that_lists_the_known_ones(production_like):
    before = file_digest(production_like)
    for bad in ["{entity_type: goal}", "{userid: u_1}"]:
        proc = run_dbt(production_like, "build", "--vars", bad, expect_ok=False)
        assert "Unknown var(s) in --vars" in proc.stdout
        assert (
            "busy_timeout_ms, compare, d1_row_limit, diff_csv, dry_run, dry_run_csv, entity_types,"
            " on_conflict, reject_threshold, scratch_database, user_id" in proc.stdout
        )
        assert file_digest(production_like) == before
    proc = run_dbt(production_like, "run", "--vars", "{entity_type: goal}", expect_ok=False)
    assert "Did you mean 'entity_type' -> 'entity_types'" in proc.stdout


def test_known_vars_are_the_projects_vars():
    import yaml

    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    macro = (PROJECT_DIR / "macros" / "run_scope" / "run_vars.sql").read_text()
    listed = re.findall(r"^\s+'([a-z0-9_]+)',$", macro, re.M)
    assert listed == sorted(project["vars"])


@pytest.mark.parametrize(
    "variable", ["USERID=u_1", "ENTITY_TYPES=goal", "ENTITY_TYPE=goal", "USER=u_1", "DRYRUN=1"]
)
def test_misspelt_make_variable_is_an_error(production_like, variable):
    before = file_digest(production_like)
    proc = make("migrate", "TARGET=prod", variable, db=production_like, expect=2)
    name = variable.split("=")[0]
    assert f"make: {name}= is not a variable of this Makefile" in proc.stderr
    assert file_digest(production_like) == before


def test_entity_and_entities_together_are_an_error(production_like):
    before = file_digest(production_like)
    proc = make(
        "migrate", "TARGET=prod", "ENTITY=goal", "ENTITIES=goal", db=production_like, expect=2
    )
    assert "give ENTITIES= or ENTITY=, not both" in proc.stderr
    assert file_digest(production_like) == before


@pytest.mark.parametrize("target", ["dev", "staging", "prod"])
def test_missing_database_path_is_an_error_and_creates_nothing(tmp_path, target):
    missing = tmp_path / "typo.db"
    proc = run_dbt(missing, "build", "--target", target, expect_ok=False)
    assert f"The {target} database {missing} does not exist." in proc.stderr
    assert "Nothing was run and no file was created." in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    proc = make("migrate", f"TARGET={target}", db=missing, expect=2)
    assert f"'{missing}' does not exist or is empty" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_empty_database_file_in_dev_is_an_error_naming_both_files(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    proc = run_dbt(empty, "build", expect_ok=False)
    assert f"The dev database {empty} does not exist or is empty." in proc.stdout
    assert f"{empty} and {empty}.dbt-work; delete them" in proc.stdout
    assert empty.stat().st_size == 0


def test_verify_on_a_missing_file_creates_nothing(tmp_path):
    missing = tmp_path / "prod.db"
    proc = make("verify", "TARGET=prod", db=missing, expect=2)
    assert "does not exist" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_verify_prints_every_check_with_its_verdict(production_like_prod_run):
    production_like = production_like_prod_run  # dbt run --target prod done
    out = make("verify", "TARGET=prod", db=production_like).stdout
    verdicts = dict(
        re.findall(r"^0 verdict\s+(\d+ [A-Za-z_ ]+?)\s{2,}(pass|FAIL|warn|info)\b", out, re.M)
    )
    assert verdicts == {
        "1 sync_data by entity type": "info",
        "2 source rows": "info",
        "3 user without sync data": "info",
        "4 sample": "info",
        "5 duplicate key": "pass",
        "6 rejected by reason": "pass",
        "7 checksum mismatch": "pass",
        "8 api rows": "info",
        "9 kept for the API": "info",
        "10 tombstone": "info",
        "11 open conflict": "pass",
    }
    # the device's goal and logbook entry, by type
    assert re.search(r"^0 verdict\s+8 api rows\s+info\s+2\b", out, re.M)


def test_verify_fails_when_a_check_fails(production_like_prod_run):
    production_like = production_like_prod_run  # dbt run --target prod done
    with sqlite3.connect(production_like) as conn:
        conn.execute("update sync_data set checksum = 'bad' where entity_id = 'g_a'")
    out = make("verify", "TARGET=prod", db=production_like, expect=2).stdout
    assert re.search(r"^0 verdict\s+7 checksum mismatch\s+FAIL\s+1", out, re.M)


def test_dbt_runs_from_a_subfolder(production_like):
    deep = PROJECT_DIR / "models" / "staging"
    # SYNC_DB_PATH relative to where the command is typed, as an operator would
    proc = subprocess.run(
        ["../../.venv/bin/dbt", "build", "--target", "prod"],
        cwd=deep,
        env=dbt_env(production_like, SYNC_DB_PATH=os.path.relpath(production_like, deep)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert migrated_keys(production_like) == set(ALL_KEYS)
    assert "migration goal: success" in proc.stdout


def test_make_help_lists_every_target():
    out = make("help").stdout
    makefile = (PROJECT_DIR / "Makefile").read_text()
    phony = re.search(r"^\.PHONY: (.*)$", makefile, re.M).group(1).split()
    listed = re.findall(r"^  ([a-z][a-z0-9-]*) +\S", out, re.M)
    assert sorted(listed) == sorted(phony)
    assert re.search(r"^  migrate +.*USER_ID.*ENTITIES", out, re.M)
    assert re.search(r"^  rollback +.*ENTITY.*ALL=1 CONFIRM=1", out, re.M)


def test_make_rollback(production_like_prod_run):
    production_like = production_like_prod_run  # dbt run --target prod done
    before = add_api_rows_snapshot(production_like)
    proc = make("rollback", "TARGET=prod", "ENTITY=goal", "DRY_RUN=1", db=production_like)
    # 3 migrated goals; the device's goal is the API's, never a rollback's
    assert f"rollback goal in {production_like}: would delete 3 rows the migration owns" in (
        proc.stdout
    )
    assert migrated_keys(production_like) == set(ALL_KEYS)
    make("rollback", "TARGET=prod", "ALL=1", db=production_like, expect=2)
    assert migrated_keys(production_like) == set(ALL_KEYS)
    proc = make("rollback", "TARGET=prod", "ENTITY=goal", "USER_ID=u_2", db=production_like)
    assert f"rollback goal (user u_2) in {production_like}: deleting" in proc.stdout
    assert f"deleted from {production_like}" in proc.stdout
    assert migrated_keys(production_like) == set(ALL_KEYS) - {("goal", "g_b"), ("goal", "g_c")}
    make("rollback", "TARGET=prod", "ALL=1", "CONFIRM=1", db=production_like)
    assert migrated_keys(production_like) == set()
    # every row the API wrote survives, of the migration's types too
    with sqlite3.connect(production_like) as conn:
        api_ids = tuple(row[0] for row in API_ROWS)
        assert conn.execute(
            f"select * from sync_data where id in {api_ids} order by id"
        ).fetchall() == [row for row in before if row[0] in api_ids]
    make("rollback", "TARGET=prod", db=production_like, expect=2)


def test_fresh_dev_database_prints_the_summary_on_its_first_run(tmp_path):
    copy = copy_project(tmp_path / "project")
    env = dbt_env("data/dev.db")
    del env["SYNC_DB_PATH"]
    proc = subprocess.run(
        [str(copy / ".venv" / "bin" / "dbt"), "build"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        "migration goal: success processed=13 inserted=12 updated=0 unchanged=0 rejected=1"
        in proc.stdout
    )
    assert "rejected logbook_entry orphan_user: 1 row(s)" in proc.stdout


def test_merge_without_its_documents_is_refused(production_like):
    run_dbt(production_like, "run")
    with sqlite3.connect(production_like) as conn:
        conn.execute("update goals set title = 'changed' where id = 'g_a'")
    before = table_digest(production_like, ["sync_data"])
    proc = run_dbt(production_like, "run", "--select", "sync_data", expect_ok=False)
    assert "sync_data would merge documents that this run did not build" in proc.stdout
    assert "int_goals_documented" in proc.stdout
    assert table_digest(production_like, ["sync_data"]) == before
    assert {row[1] for row in statuses(production_like)} == {"success", "failed"}
    # with its documents, it merges the change
    run_dbt(production_like, "run", "--select", "+sync_data")
    assert '"title":"changed"' in fetch_sync_data(production_like)[("goal", "g_a")]["data"]


@pytest.mark.parametrize("given", ['{user_id: ""}', "{entity_types: []}", '{entity_types: ""}'])
def test_an_empty_filter_is_refused(production_like, given):
    before = file_digest(production_like)
    proc = run_dbt(production_like, "build", "--vars", given, expect_ok=False)
    assert "is given but empty, which would widen the run" in proc.stdout
    assert file_digest(production_like) == before


def test_options_before_the_command_still_get_the_checks(tmp_path):
    missing = tmp_path / "typo.db"
    proc = run_dbt(missing, "--log-level", "info", "build", "-tprod", expect_ok=False)
    assert f"The prod database {missing} does not exist." in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_dev_database_other_than_the_default_gets_no_sample_rows(db):
    with sqlite3.connect(db) as conn:
        conn.execute("drop table practice_sessions")
    before = file_digest(db)
    proc = run_dbt(db, "build", expect_ok=False)
    assert "the backend table practice_sessions is missing" in proc.stdout
    assert file_digest(db) == before


def test_a_new_database_path_keeps_partial_parsing(template_db, tmp_path):
    """Issue 17: the launcher leaves the database paths out of dbt's parse key,
    so staging then prod, or any new file, costs no full parse; the run still
    writes the file it was given. Issue 25: the command line's vars too, and
    the run still reads the vars it was given."""
    target = tmp_path / "dbt-target"
    logs = tmp_path / "logs"
    paths = [tmp_path / "first.db", tmp_path / "second.db"]
    outputs = []
    for path, args in zip(paths, [[], ["--vars", "{user_id: u_1}"]], strict=True):
        shutil.copy(template_db, path)
        shutil.rmtree(logs, ignore_errors=True)
        run_dbt(path, "run", "--target", "prod", *args, env={"DBT_TARGET_PATH": target})
        outputs.append((logs / "dbt.log").read_text())
    assert "Partial parsing enabled" not in outputs[0]
    assert "Partial parsing enabled, no changes found, skipping parsing" in outputs[1]
    assert "Unable to do partial parsing" not in outputs[1]
    filters = []
    for path in paths:
        with sqlite3.connect(path) as conn:
            filters.append(
                conn.execute("select distinct user_id_filter from migration_runs").fetchall()
            )
    assert filters == [[(None,)], [("u_1",)]]


# Every var the project reads, set away from its default at least once.
VAR_SETS = [
    {},
    {"dry_run": True, "dry_run_csv": "/tmp/plan.csv", "diff_csv": "/tmp/diff.csv"},
    {"entity_types": ["goal"], "user_id": "u_1"},
    {
        "on_conflict": "api_wins",
        "reject_threshold": 5,
        "d1_row_limit": 1000,
        "busy_timeout_ms": 5,
        "scratch_database": True,
        "compare": "changed",
    },
]


def test_no_ref_or_config_depends_on_a_var(db, tmp_path):
    """The launcher keeps dbt's parsed project across runs with other vars:
    that is right only while what dbt parses (each node's refs and sources,
    its config) is the same under every var. A ref under a var condition
    (reconciles_with_source once had one under dry_run) fails this."""
    parsed = []
    for i, vars_ in enumerate(VAR_SETS):
        target = tmp_path / f"target-{i}"
        run_dbt(
            db,
            "parse",
            "--no-partial-parse",
            "--vars",
            json.dumps(vars_),
            env={"DBT_TARGET_PATH": target},
        )
        manifest = json.loads((target / "manifest.json").read_text())
        parsed.append(
            {
                node_id: (sorted(node["depends_on"].get("nodes", [])), node["config"])
                for node_id, node in {**manifest["nodes"], **manifest["unit_tests"]}.items()
            }
        )
    assert len(parsed[0]) > 80
    for vars_, other in zip(VAR_SETS[1:], parsed[1:], strict=True):
        changed = sorted(
            k for k in parsed[0].keys() | other.keys() if parsed[0].get(k) != other.get(k)
        )
        assert changed == [], f"under {vars_}"
    import yaml

    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    assert set().union(*VAR_SETS) == set(project["vars"])


@pytest.mark.parametrize("state", ["empty", "migrated"])
def test_sqlfluff_lints_every_model_whatever_state_the_database_is_in(request, state):
    """Issue 25: `sqlfluff lint .` compiles each model against the database it
    is pointed at; a migrated one (the ledger, conflicts and sync_data exist)
    and an empty one render different branches, and both must pass, with no
    model skipped for a compile error (sqlparse's token limit skipped one,
    with only a warning)."""
    # migrated: the fixture after dbt build (unit tests leave no table behind)
    db = request.getfixturevalue("fixture_built" if state == "migrated" else "db")
    proc = bash(".venv/bin/sqlfluff lint models analyses tests", db)
    assert "Skipped file" not in proc.stdout + proc.stderr or all(
        "because it is a macro" in line
        for line in (proc.stdout + proc.stderr).splitlines()
        if "Skipped file" in line
    ), proc.stdout + proc.stderr
    assert "All Finished" in proc.stdout
