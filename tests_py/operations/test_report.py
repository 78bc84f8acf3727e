"""Issue 26: the run report, one HTML page written from what the runs recorded
(`make report`), opened from its file in Chromium without a network."""

import base64
import csv
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from browser import Browser
from conftest import PROJECT_DIR, REPO_DIR, dbt_env, insert_rows, run_dbt
from contract_rows import API_ROWS, add_api_rows, copy_database, load_fixture

SCREENSHOT = REPO_DIR / "artifacts" / "report" / "run_report.png"
BUILD = ("build", "--exclude-resource-type", "unit_test")
API_TITLE = "Renamed on a phone"

# What the page shows, read from the page Chromium drew.
SHOWN = """
(function () {
    var chart = window.reportChart;
    if (!chart) { return null; }
    function cells(id) {
        var table = document.getElementById(id);
        if (!table) { return []; }
        return Array.prototype.slice.call(table.rows, 1).map(function (row) {
            return Array.prototype.map.call(row.cells, function (c) { return c.innerText.trim(); });
        });
    }
    return {
        points: chart.data[0].length,
        series: chart.series.slice(1).map(function (s) { return s.label; }),
        inserted: chart.data[1],
        updated: chart.data[2],
        conflicts: chart.data[6],
        rejected: chart.data[7],
        canvas: document.querySelectorAll('#chart canvas').length,
        runs: cells('runs'),
        diff: cells('diff-groups'),
        conflictRows: cells('conflict-rows'),
        rejectRows: cells('reject-rows')
    };
})()
"""


def file_digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_report(db, out, expect=0):
    proc = subprocess.run(
        ["make", "report", f"SYNC_DB_PATH={db}", f"REPORT={out}"],
        cwd=PROJECT_DIR,
        env=dbt_env(db),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == expect, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def two_runs_template(tmp_path_factory, template_db):
    """Run 1 migrates (one goal rejected); then the backend renames g_a, and
    the API rewrote g_b, a row the ledger forgot: run 2 updates g_a and
    settles g_b's conflict for the backend. Played once per module on
    production_like's rows."""
    db = tmp_path_factory.mktemp("two_runs") / "backend.db"
    shutil.copy(template_db, db)
    load_fixture(db)
    add_api_rows(db)
    insert_rows(
        db,
        "goals",
        [
            {
                "id": "g_bad",
                "user_id": "u_1",
                "title": "Broken",
                "milestones": "{not json",
                "created_at": 1717200000000,
                "updated_at": 1717200000000,
            }
        ],
    )
    run_dbt(db, *BUILD)
    with sqlite3.connect(db) as conn:
        conn.execute("update goals set title = 'Fourth' where id = 'g_a'")
        (data,) = conn.execute(
            "select data from sync_data where entity_type = 'goal' and entity_id = 'g_b'"
        ).fetchone()
        document = json.loads(data)
        document["title"] = API_TITLE
        changed = json.dumps(document, separators=(",", ":"))
        conn.execute(
            "update sync_data set data = ?, checksum = ? where entity_type = 'goal'"
            " and entity_id = 'g_b'",
            (changed, hashlib.sha256(changed.encode()).hexdigest()),
        )
        conn.execute(
            "delete from migration_ledger where entity_type = 'goal' and entity_id = 'g_b'"
        )
    run_dbt(db, *BUILD)
    return db


@pytest.fixture
def two_runs(two_runs_template, tmp_path):
    """The two runs' database and work file, copied for this test."""
    return copy_database(two_runs_template, tmp_path / "backend.db")


def test_the_report_opens_offline_with_the_history_the_diff_conflicts_and_rejects(
    two_runs, tmp_path
):
    out = tmp_path / "report" / "run_report.html"
    before = file_digest(two_runs)
    proc = make_report(two_runs, out)
    assert f"run report: {out}" in proc.stdout
    assert file_digest(two_runs) == before
    page = out.read_text()
    # self-contained: nothing to fetch
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)

    browser = Browser()
    try:
        browser.call("Runtime.enable")
        browser.call("Log.enable")
        browser.call("Page.enable")
        browser.call("Page.navigate", url=out.resolve().as_uri())
        shown = browser.wait_for(SHOWN)
        shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        errors = browser.errors()
    finally:
        browser.close()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))
    assert errors == []

    with sqlite3.connect(two_runs) as conn:
        runs = conn.execute(
            "select run_id, sum(inserted_count), sum(updated_count), sum(conflict_count),"
            " sum(error_count) from migration_runs group by run_id order by max(completed_at)"
        ).fetchall()
        live = conn.execute(
            "select count(*) from sync_data where entity_type in"
            " ('goal', 'logbook_entry', 'practice_session') and id not like 'sync_dev%'"
        ).fetchone()[0]
    assert len(runs) == 2
    assert shown["points"] == 2 and shown["canvas"] >= 1
    assert shown["series"] == [
        "inserted",
        "updated",
        "tombstoned",
        "revived",
        "kept for the API",
        "conflicts",
        "rejected",
    ]
    assert shown["inserted"] == [runs[0][1], 0] and runs[0][1] == live
    assert shown["updated"] == [0, 2]
    assert shown["conflicts"] == [runs[0][3], 1]
    assert shown["rejected"] == [1, 1]
    # the table lists the latest run first
    assert [row[0] for row in shown["runs"]] == [runs[1][0], runs[0][0]]
    # run 2's diff: g_a's title from the backend, g_b's from the conflict
    assert shown["diff"] == [
        ["goal", "update", "", "title", "1", 'g_a title: "Third" → "Fourth"'],
        ["goal", "update", "unknown_origin", "title", "1", f'g_b title: "{API_TITLE}" → "Half"'],
    ]
    conflict = next(row for row in shown["conflictRows"] if "g_b" in row[0])
    assert conflict[1:3] == ["unknown_origin", "backend_wins"]
    assert API_TITLE in conflict[3] and '"title": "Half"' in conflict[4]
    assert [row[:2] + row[3:4] for row in shown["rejectRows"]] == [
        ["goal", "g_bad", "invalid_json: milestones: not valid JSON"]
    ]


def test_a_report_that_cannot_be_written_says_why_and_keeps_the_old_one(two_runs, tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    out = folder / "run_report.html"
    out.write_text("the last good report")
    folder.chmod(0o555)
    try:
        # as root, a chmod stops only a process without CAP_DAC_OVERRIDE
        prefix = ["setpriv", "--bounding-set", "-dac_override", "--"] if os.geteuid() == 0 else []
        proc = subprocess.run(
            [*prefix, ".venv/bin/python", "scripts/run_report.py", "--database", str(two_runs)]
            + ["--out", str(out)],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        folder.chmod(0o755)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"The report could not be written to {out}" in proc.stderr
    assert "choose a writable folder with REPORT=" in proc.stderr
    assert out.read_text() == "the last good report"
    missing = make_report(tmp_path / "nothing.db", tmp_path / "r.html", expect=2)
    assert "does not exist or is empty" in missing.stderr


def test_a_diff_file_that_cannot_be_written_fails_the_run_before_it_writes(
    production_like, tmp_path
):
    """The diff is written inside the merge's transaction, before its writes:
    a read-only folder fails the run, naming the file, and sync_data keeps
    every byte. The API's row that is not JSON is its own group."""
    with sqlite3.connect(production_like) as conn:
        conn.execute(
            "insert into sync_data (id, user_id, entity_type, entity_id, data, checksum, version)"
            " values ('sync_api_broken', 'u_1', 'goal', 'g_a', '{not json', 'x', 1)"
        )
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    target = folder / "diff.csv"
    vars_ = json.dumps({"diff_csv": str(target)})
    prefix = ["setpriv", "--bounding-set", "-dac_override", "--"] if os.geteuid() == 0 else []
    before = file_digest(production_like)
    try:
        proc = subprocess.run(
            [*prefix, str(PROJECT_DIR / ".venv" / "bin" / "dbt"), "run", "--vars", vars_],
            cwd=PROJECT_DIR,
            env=dbt_env(production_like),
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        folder.chmod(0o755)
    assert proc.returncode != 0, proc.stdout
    assert (
        f"could not write the file {target} (open of {target}.partial: Permission denied)"
        in proc.stdout
    )
    with sqlite3.connect(production_like) as conn:
        rows = conn.execute("select id, data from sync_data order by id").fetchall()
        failed = conn.execute(
            "select count(*) from migration_runs where status = 'failed'"
        ).fetchone()[0]
    assert rows == sorted([(r[0], r[4]) for r in API_ROWS] + [("sync_api_broken", "{not json")])
    assert failed == 3
    assert before != file_digest(production_like)  # the failed run's history only
    assert not target.exists() and not Path(f"{target}.partial").exists()

    proc = run_dbt(production_like, "run", "--vars", vars_)
    with open(target, newline="") as f:
        lines = [line for line in csv.DictReader(f) if line["action"] != "insert"]
    assert [
        (line["entity_id"], line["action"], line["conflict_kind"], line["changed_fields"])
        for line in lines
    ] == [("g_a", "update", "unknown_origin", "(document is not JSON)")]
    assert (
        "goal update (conflict unknown_origin): (document is not JSON) — 1 row(s), e.g. g_a"
        in proc.stdout
    )


def test_the_diff_compares_fields_as_json_values(production_like, tmp_path):
    """Key order and a number's spelling are no change, a key holding a
    double quote is a field like any other, and a document that is not an
    object is its own group. The API rewrote three goals the ledger forgot;
    the dry run's diff says what the backend's documents would change."""
    run_dbt(production_like, *BUILD)
    with sqlite3.connect(production_like) as conn:
        documents = dict(
            conn.execute("select entity_id, data from sync_data where entity_type = 'goal'")
        )
        reordered = json.loads(documents["g_a"])
        text = json.dumps(dict(reversed(list(reordered.items()))), separators=(",", ":"))
        text = text.replace('"progress":33.333333333333336', '"progress":3.3333333333333336e1')
        assert "3.3333333333333336e1" in text
        extra = json.loads(documents["g_b"])
        extra['say"hi'] = [1, {"a": True}]
        extra["title"] = "Renamed"
        rewritten = {
            "g_a": text,
            "g_b": json.dumps(extra, separators=(",", ":")),
            "g_c": "[1]",
        }
        # inside a nested object too: keys reversed, a number respelt
        (entry,) = conn.execute(
            "select data from sync_data where entity_type = 'logbook_entry' and entity_id = 'le_c'"
        ).fetchone()
        nested = json.loads(entry)
        nested["pieces"][0] = dict(reversed(list(nested["pieces"][0].items())))
        respelt = json.dumps(nested, separators=(",", ":")).replace('"tempo":96,', '"tempo":96.0,')
        assert '"tempo":96.0,' in respelt
        rewritten = {("goal", k): v for k, v in rewritten.items()}
        rewritten[("logbook_entry", "le_c")] = respelt
        for (entity_type, entity_id), data in rewritten.items():
            conn.execute(
                "update sync_data set data = ?, checksum = ? where entity_type = ?"
                " and entity_id = ?",
                (data, hashlib.sha256(data.encode()).hexdigest(), entity_type, entity_id),
            )
            conn.execute(
                "delete from migration_ledger where entity_type = ? and entity_id = ?",
                (entity_type, entity_id),
            )
    diff = tmp_path / "diff.csv"
    proc = run_dbt(
        production_like, "run", "--vars", json.dumps({"dry_run": True, "diff_csv": str(diff)})
    )
    with open(diff, newline="") as f:
        lines = [
            (r["entity_id"], r["changed_fields"], r["field"], r["before_value"], r["after_value"])
            for r in csv.DictReader(f)
        ]
    title = json.dumps(json.loads(documents["g_b"])["title"])
    assert lines == [
        ("g_c", "(document is not an object)", "", "", ""),
        ("g_a", "(same values, other bytes)", "", "", ""),
        ("g_b", 'say"hi + title', 'say"hi', '[1,{"a":true}]', ""),
        ("g_b", 'say"hi + title', "title", '"Renamed"', title),
        ("le_c", "(same values, other bytes)", "", "", ""),
    ]
    assert 'g_b say"hi [1,{"a":true}] → (absent), title "Renamed" → ' + title in proc.stdout
