"""Reading and running the shell commands of the docs (README.md,
docs/operations.md, docs/d1.md): the helpers of docs/test_documented_commands.py
and d1/test_d1_remote.py.
"""

import hashlib
import os
import re
import shlex
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

DOCUMENTS = ["README.md", "docs/operations.md"]
# The operator's folders the docs name, and the databases in them that are
# prepared as copies of the dev database.
SCRATCH_ROOTS = ["/backups", "/data", "/var/log/sync_data", "/tmp"]
SCRATCH_DATABASES = ["/backups/prod.db", "/backups/staging.db", "/data/prod.db"]
# Absolute paths a command may use as they are: they are read, never written.
SYSTEM_PATHS = ("/dev/null", "/usr/")
# Make and dbt settings of the shell that runs pytest would change what a
# documented command does.
INHERITED_SETTINGS = {
    "TARGET",
    "USER_ID",
    "ENTITY",
    "ENTITIES",
    "DRY_RUN",
    "ALL",
    "CONFIRM",
    "SYSTEM_PYTHON",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
}

OPEN_FENCE = re.compile(r"^```(?P<language>[\w-]*)\s*$")
NOT_RUN = re.compile(
    r"^<!--\s*not run(?P<commands>(?:\s*,?\s*`[^`]+`)*)\s*:(?P<reason>.*?)-->$", re.S
)
# a block run by tests_py/d1/test_d1_remote.py, against a stand-in for Cloudflare
REMOTE = re.compile(r"^<!--\s*remote:(?P<reason>.*?)-->$", re.S)
EXPECTED_EXIT = re.compile(r"^exit (\d+)\b")
ABSOLUTE_PATH = re.compile(r"(?<![\w.~/:-])/[\w./-]*")


@dataclass
class Command:
    document: str
    line: int
    text: str
    expected_exit: int

    def __str__(self):
        return f"{self.document}:{self.line}: {self.text}"


def trailing_comment(command):
    """The text of the command's shell comment, or ''."""
    quote, escaped = None, False
    for i, char in enumerate(command):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or command[i - 1].isspace()):
            return command[i + 1 :].strip()
    return ""


def quotes_open(text):
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return True
    return False


def split_commands(lines, first_line):
    """(line number, command) for each command of a block's lines."""
    commands, current, start = [], None, None
    for number, raw in enumerate(lines, first_line):
        line = raw.strip()
        if current is None:
            if not line or line.startswith("#"):
                continue
            current, start = "", number
        if line.endswith("\\") and not quotes_open(current + line[:-1]):
            current += line[:-1].rstrip() + " "
            continue
        current += line
        if quotes_open(current):
            # a quoted argument spans lines: the newline is part of it
            current += "\n"
            continue
        commands.append((start, current))
        current = None
    assert current is None, f"line {start}: a command never ends: {current!r}"
    return commands


def documented_commands(document, markdown, remote=False):
    """The commands to run, and the commands marked `not run`, of a document;
    with remote=True, the commands of its blocks marked `remote:` instead."""
    lines = markdown.splitlines()
    to_run, not_run = [], []
    previous, i = "", 0
    while i < len(lines):
        fence = OPEN_FENCE.match(lines[i])
        if not fence:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        marker = NOT_RUN.match(previous)
        is_remote = bool(REMOTE.match(previous))
        previous, start, i = "", i, end + 1
        if fence["language"] != "sh" or is_remote != remote:
            continue
        block = split_commands(lines[start + 1 : end], start + 2)
        skipped = re.findall(r"`([^`]+)`", marker["commands"]) if marker else []
        if marker:
            assert marker["reason"].strip(), f"{document}:{start}: say why it is not run"
        if marker and not skipped:
            not_run.extend(text for _, text in block)
            continue
        for name in skipped:
            assert any(re.sub(r"\s+#.*", "", text) == name for _, text in block), (
                f"{document}: `{name}` is marked not run, but the block has no such command"
            )
        for line, text in block:
            if re.sub(r"\s+#.*", "", text) in skipped:
                not_run.append(text)
                continue
            expected = EXPECTED_EXIT.match(trailing_comment(text))
            to_run.append(Command(document, line, text, int(expected[1]) if expected else 0))
    return to_run, not_run


def rewrite_paths(command, scratch):
    """The command with the operator's absolute paths moved under `scratch`."""
    roots = "|".join(re.escape(root) for root in SCRATCH_ROOTS)
    code = re.sub(rf"(?<![\w.~/:-])(?=(?:{roots})/)", str(scratch), command)
    for path in ABSOLUTE_PATH.findall(code):
        assert path.startswith((str(scratch), *SYSTEM_PATHS)), (
            f"{command}: {path} is not a scratch path; add its folder to SCRATCH_ROOTS"
            " or mark the command not run"
        )
    return code


def command_env():
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SYNC_", "DBT_")) and key not in INHERITED_SETTINGS
    }
    env.update(DBT_SEND_ANONYMOUS_USAGE_STATS="False", DO_NOT_TRACK="1", DBT_USE_COLORS="False")
    return env


def read_only(path):
    # mode=ro never creates the file, as a plain connect would
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def has_table(conn, name):
    return conn.execute("select 1 from sqlite_master where name = ?", (name,)).fetchone()


@dataclass
class DatabaseState:
    exists: bool
    work_file_exists: bool
    digest: str | None = None
    sync_data: list | None = None
    runs: int = 0
    rolled_back: int = 0


def database_state(path):
    work_file = Path(f"{path}.dbt-work")
    if not path.exists():
        return DatabaseState(False, work_file.exists())
    state = DatabaseState(
        True, work_file.exists(), digest=hashlib.sha256(path.read_bytes()).hexdigest()
    )
    with read_only(path) as conn:
        if has_table(conn, "sync_data"):
            state.sync_data = conn.execute("select * from sync_data order by id").fetchall()
        if has_table(conn, "migration_runs"):
            state.runs, state.rolled_back = conn.execute(
                "select count(*), count(case when status = 'rolled_back' then 1 end)"
                " from migration_runs"
            ).fetchone()
    return state


def newest_run(path):
    """(entity types, user_id_filter) of the last run recorded in migration_runs."""
    with read_only(path) as conn:
        rows = conn.execute(
            "select entity_type, user_id_filter from migration_runs where run_id ="
            " (select run_id from migration_runs order by rowid desc limit 1)"
        ).fetchall()
    return {row[0] for row in rows}, {row[1] for row in rows}


def command_kind(code, tokens):
    """What the command does to its database, as far as the test checks it."""
    dry = "DRY_RUN=1" in tokens or re.search(r"dry_run:\s*true", code)
    if "rollback" in code:
        return "dry rollback" if dry else "rollback"
    if dry or ("make" in tokens and "dry-run" in tokens):
        return "dry run"
    if any(token.endswith("weekly_sync.sh") for token in tokens):
        return "weekly job"
    if "make" in tokens and ("run" in tokens or "migrate" in tokens):
        return "migration"
    # a selection may leave sync_data out (e.g. --select staging)
    if re.search(r"\bdbt (run|build)(\s|$)", code) and not re.search(r"\s(--select|-s)\s", code):
        return "migration"
    return None


def dry_run_plan(code, project):
    named = re.search(r"dry_run_csv:\s*([^,}\s]+)", code)
    return Path(named[1]) if named else project / "target" / "dry_run.csv"


def effect_problems(kind, code, tokens, project, database, before, after):
    """What the command should have done to its database and did not."""
    if kind == "dry rollback":
        return [] if after.digest == before.digest else ["a dry rollback changed the database"]
    if kind == "rollback":
        if after.rolled_back > before.rolled_back:
            return []
        return ["the rollback left no rolled_back row in migration_runs"]
    if kind == "dry run":
        problems = [] if after.digest == before.digest else ["a dry run changed the database"]
        plan = dry_run_plan(code, project)
        if not plan.exists() or not plan.read_text().startswith("entity_type,action,"):
            problems.append(f"the dry run wrote no plan to {plan}")
        return problems
    if kind not in ("migration", "weekly job"):
        return []
    problems = []
    if after.runs <= before.runs:
        problems.append("the run left no row in migration_runs")
    if not after.sync_data:
        problems.append("sync_data is empty after the run")
    settings = dict(token.split("=", 1) for token in tokens if re.fullmatch(r"[A-Z_]+=.*", token))
    if "make" in tokens and "migrate" in tokens and after.runs > before.runs:
        entity_types, user_ids = newest_run(database)
        wanted = settings.get("ENTITY") or settings.get("ENTITIES")
        if wanted and entity_types != set(wanted.split(",")):
            problems.append(f"the run migrated {sorted(entity_types)}, not {wanted}")
        if "USER_ID" in settings and user_ids != {settings["USER_ID"]}:
            problems.append(f"the run's user filter is {user_ids}, not {settings['USER_ID']}")
    if kind == "weekly job":
        target = tokens[tokens.index(next(t for t in tokens if t.endswith("weekly_sync.sh"))) + 1]
        log = Path(tokens[-1]) if tokens[-1].endswith(".log") else None
        log = log or project / "logs" / f"weekly_sync_{target}.log"
        if not log.exists() or "finished: exit code 0" not in log.read_text():
            problems.append(f"the weekly job's log {log} does not say it finished")
    return problems


def run_documented(commands, project, scratch):
    """Run the commands in order; return a description of each that broke."""
    env = command_env()
    failures = []
    for command in commands:
        code = rewrite_paths(command.text, scratch)
        tokens = shlex.split(code, comments=True)
        named = [t.split("=", 1)[1] for t in tokens if t.startswith("SYNC_DB_PATH=")]
        database = Path(named[0]) if named else project / "data" / "dev.db"
        database = database if database.is_absolute() else project / database
        kind = command_kind(code, tokens)
        if kind == "dry run":
            # so that a plan left by an earlier command does not count
            dry_run_plan(code, project).unlink(missing_ok=True)
        before = database_state(database)
        proc = subprocess.run(
            ["bash", "-o", "pipefail", "-c", code],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        after = database_state(database)
        if proc.returncode != command.expected_exit:
            problems = [f"exit {proc.returncode}, expected {command.expected_exit}"]
        elif command.expected_exit != 0:
            # a refused command changes nothing, and creates nothing
            problems = []
            if (after.exists, after.work_file_exists) != (before.exists, before.work_file_exists):
                problems.append(f"it created {database} or its work file")
            if after.sync_data != before.sync_data:
                problems.append("it changed sync_data")
        else:
            problems = effect_problems(kind, code, tokens, project, database, before, after)
        if problems:
            output = (proc.stdout + proc.stderr).strip().splitlines()
            failures.append(
                f"{command}\n  " + "; ".join(problems) + "\n    " + "\n    ".join(output[-15:])
            )
    return failures


def date_back_sources(project):
    """Keep make from rebuilding the shared .venv from this copy.

    The copy's .venv is a symlink to the repository's. A checkout newer than
    the .venv (a worktree made after it was built) would make `make` rebuild
    it, for every test run and for everyone using it; `make setup` in the
    repository is the place for that.
    """
    stamps = [project / ".venv/.installed", project / ".venv/sqlite-extensions/js_json.so"]
    if not all(stamp.exists() for stamp in stamps):
        return
    oldest = min(stamp.stat().st_mtime for stamp in stamps) - 1
    for name in [
        "requirements.txt",
        "extensions/sqlite/js_json.c",
        "extensions/sqlite/row_functions.c",
        "extensions/sqlite/file_functions.c",
        "extensions/sqlite/document_pack.c",
    ]:
        if (project / name).stat().st_mtime > oldest:
            os.utime(project / name, (oldest, oldest))
