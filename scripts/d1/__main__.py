"""The D1 round trip's steps, as the Makefile's d1-* targets and the weekly
job run them: `python scripts/d1 --help` lists the steps (STEPS below) and
their settings; docs/d1.md is the operator's page.

Every step but path holds the database's lock (data/d1/locks/) while it runs,
and a failure prints one line that names the step: `d1-<step>: <cause>`.
"""

import argparse
import errno
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dbt_vars import RefusedVars, check_filters, flag, run_vars  # noqa: E402
from identity import PROJECT_DIR, check_same, resolve  # noqa: E402
from lock import database_lock  # noqa: E402
from patch import make_patch, pulled_record  # noqa: E402
from pull import pull  # noqa: E402
from push import push  # noqa: E402
from tables import SYNC_DATA, columns, connect  # noqa: E402
from wrangler import D1Error, Refused, Wrangler  # noqa: E402

D1_ROW_LIMIT = 2_000_000


def setting(name):
    """A variable's value; given but blank is refused, never read as unset."""
    value = os.environ.get(name)
    if value is not None and not value.strip() and name in ("D1_FILE", "D1_PERSIST_TO"):
        raise Refused(f"{name}= is given but blank. Leave it out, or give a path. Nothing was run.")
    return value or ""


def current_target():
    env = setting("WRANGLER_ENV")
    cloudflare_env = os.environ.get("CLOUDFLARE_ENV")
    if cloudflare_env is not None and cloudflare_env != env:
        raise Refused(
            f"CLOUDFLARE_ENV={cloudflare_env} is set, and wrangler would take it for the"
            f" environment, while WRANGLER_ENV={env!r} names {'another' if env else 'none'}."
            " Set WRANGLER_ENV to the environment you mean and unset CLOUDFLARE_ENV."
            " Nothing was run."
        )
    return resolve(
        setting("D1_DATABASE"),
        setting("WRANGLER_CONFIG"),
        env=env,
        remote=remote_asked(),
        persist_to=setting("D1_PERSIST_TO") or None,
    )


def local_file(target):
    given = setting("D1_FILE")
    path = Path(given).resolve() if given else target.default_file()
    if path.is_dir():
        raise Refused(f"D1_FILE={given} is a folder: name the copy's file. Nothing was run.")
    return path


def remote_asked():
    try:
        return flag(os.environ, "D1_REMOTE")
    except RefusedVars as refusal:
        raise Refused(str(refusal)) from refusal


def dry_run_asked():
    try:
        return flag(os.environ, "DRY_RUN")
    except RefusedVars as refusal:
        raise Refused(str(refusal)) from refusal


def migrate(target, path, dry_run):
    """make migrate (or make dry-run) on the pulled copy, then its patch."""
    if not path.exists() or path.stat().st_size == 0:
        raise Refused(f"nothing pulled into {path} yet: run make d1-pull first.")
    check_same(pulled_record(path), target, "migrate", str(path))
    try:
        dbt_vars = run_vars(os.environ, dry_run=dry_run)
    except RefusedVars as refusal:
        raise Refused(str(refusal)) from refusal
    # D1 refuses a row past 2,000,000 bytes: such a document is a reject
    dbt_vars["d1_row_limit"] = D1_ROW_LIMIT
    profile_target = "prod" if target.remote else "staging"
    command = [str(PROJECT_DIR / ".venv" / "bin" / "dbt")]
    if dry_run:
        command += ["run", "--target", profile_target]
    else:
        command += ["build", "--target", profile_target, "--exclude-resource-type", "unit_test"]
    command += ["--vars", json.dumps(dbt_vars)]
    env = dict(os.environ, SYNC_DB_PATH=str(path), SYNC_WORK_DB_PATH=f"{path}.dbt-work")
    status = subprocess.run(command, cwd=PROJECT_DIR, env=env, check=False).returncode
    if status != 0:
        raise D1Error(
            f"dbt {command[1]} on {path} failed (exit {status}, above): no patch was written;"
            " nothing reached D1."
        )
    if not dry_run:
        make_patch(path, target)


def rollback(target, path, current):
    """make rollback on a fresh pull, then the patch of its tombstones, pushed
    like any other (DRY_RUN=1: the counts only, nothing written anywhere)."""
    current[0] = "pull"
    pull(Wrangler(target), path, target.record())
    current[0] = "rollback"
    conn = connect(path)
    has_seq = "seq" in columns(conn, SYNC_DATA)
    conn.close()
    if not has_seq:
        raise Refused(
            "this D1's sync_data has no seq, where a rollback deletes rows, and a patch"
            " never deletes a row. Nothing was changed."
        )
    try:
        args = run_vars(os.environ, rollback=True)
    except RefusedVars as refusal:
        raise Refused(str(refusal)) from refusal
    profile_target = "prod" if target.remote else "staging"
    command = [
        str(PROJECT_DIR / ".venv" / "bin" / "dbt"),
        "run-operation",
        "rollback_sync_data",
        "--target",
        profile_target,
        "--args",
        json.dumps(args),
    ]
    env = dict(os.environ, SYNC_DB_PATH=str(path), SYNC_WORK_DB_PATH=f"{path}.dbt-work")
    status = subprocess.run(command, cwd=PROJECT_DIR, env=env, check=False).returncode
    if status != 0:
        raise D1Error(f"the rollback of {path} failed (exit {status}, above); nothing reached D1.")
    if args.get("dry_run"):
        print(
            "d1-rollback: DRY_RUN: the counts above are what a rollback would take back;"
            " nothing was written to D1 (the local copy was pulled again)."
        )
        return
    current[0] = "patch"
    make_patch(path, target)
    current[0] = "push"
    push(Wrangler(target), path, target)


def sync(target, path, current):
    """pull, migrate, push; current[0] names the step under way, for the
    message of a failure."""
    current[0] = "pull"
    pull(Wrangler(target), path, target.record())
    current[0] = "migrate"
    migrate(target, path, dry_run=False)
    if dry_run_asked():
        print(
            "d1-sync: DRY_RUN: nothing pushed; the patch above is what make d1-push would"
            " apply (guarded: rows the API changes before then are skipped)."
        )
        return
    current[0] = "push"
    push(Wrangler(target), path, target)


def explain_os_error(error):
    """One line for a file that cannot be written, naming the file and why."""
    where = f" {error.filename}" if getattr(error, "filename", None) else ""
    if error.errno == errno.ENOSPC:
        return f"the disk is full: cannot write{where}. Free space there and run again."
    return f"cannot write{where}: {error.strerror or error}."


def run_step(step, current):
    if step == "path":
        print(local_file(current_target()))
        return
    check_filters(os.environ)
    dry_run_asked()  # a DRY_RUN that is neither 1 nor 0 stops every step
    target = current_target()
    path = local_file(target)
    with database_lock(target, path):
        if step == "pull":
            pull(Wrangler(target), path, target.record())
        elif step == "migrate":
            migrate(target, path, dry_run=dry_run_asked())
        elif step == "patch":
            make_patch(path, target)
        elif step == "push":
            push(Wrangler(target), path, target)
        elif step == "sync":
            sync(target, path, current)
        elif step == "rollback":
            rollback(target, path, current)


STEPS = {
    "pull": "D1's tables into the local copy (D1_FILE), checked value for value, plus"
    " <copy>.pulled.db: what the pull saw.",
    "migrate": "The migration (dbt build) on the pulled copy, then the guarded patch of what"
    " it changed, in <copy>.patch/. DRY_RUN=1: the dbt dry run, no patch.",
    "patch": "The patch of what the runs on the copy changed since the pull.",
    "push": "The patch into D1 (remotely after taking a Time Travel bookmark), every patched"
    " row read back, then the run history.",
    "sync": "pull, migrate, push under one lock: the weekly job. DRY_RUN=1: stop after the patch.",
    "rollback": "pull, make rollback on the copy (ENTITY, USER_ID, or ALL=1 CONFIRM=1), its"
    " patch, push. DRY_RUN=1: the counts only.",
    "path": "Print the local copy's path.",
}
SETTINGS = (
    "Settings come from the environment, as make passes them: D1_DATABASE, WRANGLER_CONFIG,"
    " WRANGLER_ENV, D1_REMOTE=1, D1_PERSIST_TO, D1_FILE, D1_RETRY_SECONDS, USER_ID, ENTITIES"
    " or ENTITY, DRY_RUN (docs/d1.md). Exit codes: 0 done, 1 a step failed, 2 refused before"
    " anything ran, 73 the lock file cannot be created, 75 another step holds the lock."
)


def parse(argv):
    parser = argparse.ArgumentParser(
        prog="scripts/d1",
        description="The D1 round trip: pull D1 into a local SQLite copy, migrate it, push a"
        " guarded patch back.",
        epilog=SETTINGS,
    )
    steps = parser.add_subparsers(dest="step", required=True, metavar="step")
    for name, text in STEPS.items():
        steps.add_parser(name, help=text, description=text, epilog=SETTINGS)
    return parser.parse_args(argv[1:]).step


def main(argv):
    step = parse(argv)
    current = [step]
    try:
        run_step(step, current)
    except D1Error as error:
        print(f"d1-{current[0]}: {error}", file=sys.stderr)
        return error.exit_code
    except RefusedVars as refusal:
        print(f"d1-{current[0]}: {refusal}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"d1-{current[0]}: {explain_os_error(error)}", file=sys.stderr)
        return 1
    except sqlite3.Error as error:
        detail = "the disk is full" if "full" in str(error) else str(error)
        print(f"d1-{current[0]}: SQLite failed on the local copy: {detail}.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
