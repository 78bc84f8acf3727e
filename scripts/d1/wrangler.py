"""Cloudflare's wrangler, the only way this project talks to D1.

Every call goes through `Wrangler`, which finds the pinned wrangler of
node_modules, names the database and config once, and turns wrangler's
failures into one clear sentence. Credentials are wrangler's own business:
CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID pass through the environment and
nothing here writes them anywhere.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
WRANGLER = PROJECT_DIR / "node_modules" / ".bin" / "wrangler"

# One statement may be 100,000 bytes (D1_NOTES.md); the patch stays well under.
STATEMENT_LIMIT = 100_000
# One command-line argument may be 128 KiB on Linux (MAX_ARG_STRLEN), and D1
# refuses a --command over its statement limit as a whole.
COMMAND_LIMIT = 90_000
# wrangler deletes the first "BEGIN TRANSACTION;" and "COMMIT;" of any SQL that
# holds the words, inside string literals too: nothing sent may contain them.
FORBIDDEN = "BEGIN TRANSACTION"

# wrangler retries nothing (D1_NOTES.md). Every call made here is safe to
# repeat (reads, the guarded patch, an import D1 knows by its etag), so a
# throttled or failed request is tried again, up to ATTEMPTS calls in all,
# waiting D1_RETRY_SECONDS, then twice that, and so on.
ATTEMPTS = 4
# Cloudflare's answers that say "later", not "never": throttling (HTTP 429,
# code 971), a server-side failure (5xx, an HTML page from the edge, D1 reset
# mid-import) or the network. A SQL error (SQLITE_…) is final.
TRANSIENT = re.compile(
    r"\[code: 971\]|throttl|too many requests|\b429\b|-> 5\d\d\b|internal server error"
    r"|service unavailable|bad gateway|gateway time-?out|temporarily unavailable|overloaded"
    r"|reset before|fetch failed|econnreset|etimedout|socket hang up|und_err",
    re.IGNORECASE,
)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# wrangler's lines that say nothing about the failure
NOISE = ("⛅", "─", "🌀", "▲", "🪵", "├", "│", "If you think this is a bug", "Resource location")


class D1Error(Exception):
    """A failure an operator can act on; the message says what and what to do."""

    exit_code = 1


class Refused(D1Error):
    """A setting or a file that does not fit: refused before anything ran."""

    exit_code = 2


class Wrangler:
    def __init__(self, target):
        if not WRANGLER.exists():
            raise D1Error(
                f"wrangler is not installed ({WRANGLER} is missing): run `make setup`, "
                "which installs the pinned wrangler with npm ci. Nothing was run."
            )
        if shutil.which("node") is None:
            raise D1Error("node is not installed; `make setup` installs it. Nothing was run.")
        self.target = target
        self.config = target.config
        self.database = target.name
        self.remote = target.remote
        # passed only when given: wrangler's default is the same folder
        self.persist_to = target.persist_to if target.persist_given else None

    @property
    def where(self):
        return "--remote" if self.remote else "--local"

    def describe(self):
        return self.target.describe()

    def _env_args(self):
        return ["--env", self.target.env] if self.target.env else []

    def _run(self, args, config=None):
        env = dict(os.environ, WRANGLER_SEND_METRICS="false", NO_COLOR="1", CI="1")
        # wrangler would pick its environment from CLOUDFLARE_ENV when --env is
        # absent: the environment is the identity's, passed as --env or none
        env.pop("CLOUDFLARE_ENV", None)
        # one file, appended to, not a file per call
        env.setdefault("WRANGLER_LOG_PATH", str(PROJECT_DIR / "logs" / "wrangler.log"))
        # and no .env files of the working folder (they may name another
        # environment, account or API): the process environment only
        command = [
            str(WRANGLER),
            "d1",
            *args,
            *self._env_args(),
            "--env-file",
            os.devnull,
            "--config",
            str(config or self.config),
        ]
        wait = retry_seconds()
        for attempt in range(1, ATTEMPTS + 1):
            proc = subprocess.run(
                command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False
            )
            if proc.returncode == 0:
                return proc.stdout
            cause = cause_of(proc)
            if not (self.remote and TRANSIENT.search(cause)):
                break
            if attempt == ATTEMPTS:
                cause += f" (tried {ATTEMPTS} times)"
                break
            print(
                f"{self.describe()}: {cause}; trying again in {wait:g} s"
                f" (attempt {attempt + 1} of {ATTEMPTS})",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(wait)
            wait *= 2
        if "Couldn't find a D1 DB" in cause:
            raise D1Error(
                f"D1_DATABASE={self.database} names no D1 database of {self.config}: {cause}"
            )
        raise D1Error(f"wrangler failed on {self.describe()}: {cause}")

    def bookmark(self):
        """D1's Time Travel bookmark of now (remote only): restoring it returns
        the whole database to this moment."""
        out = self._run(["time-travel", "info", self.database, "--json"])
        try:
            return json.loads(out)["bookmark"]
        except (ValueError, KeyError, TypeError) as exc:
            raise D1Error(f"wrangler returned no Time Travel bookmark: {out[:300]}") from exc

    def restore_command(self, bookmark):
        """The command that returns the database to bookmark, for a person to run."""
        env = f" --env {self.target.env}" if self.target.env else ""
        return (
            f"{WRANGLER.relative_to(PROJECT_DIR)} d1 time-travel restore {self.database}"
            f" --bookmark={bookmark}{env} --config {self.config}"
        )

    def query(self, statements):
        """Run SQL statements and return each one's rows, in order. They go as
        --command, never --file: remotely a file is an import, which returns
        no rows. A command stays under the argument limit, so many statements
        make several calls."""
        if isinstance(statements, str):
            statements = [statements]
        results, batch = [], []
        for statement in [*statements, None]:
            if batch and (
                statement is None or len(";\n".join([*batch, statement])) > COMMAND_LIMIT
            ):
                answers = self._command(";\n".join(batch))
                if len(answers) != len(batch):
                    raise D1Error(
                        f"wrangler answered {len(answers)} of {len(batch)} statements: its"
                        " statement splitter glued some together. Nothing more was sent."
                    )
                results += answers
                batch = []
            if statement is not None:
                batch.append(statement)
        return results

    def _command(self, sql):
        if FORBIDDEN in sql.upper():
            raise D1Error(f"refusing to send SQL holding {FORBIDDEN!r}: wrangler would edit it")
        out = self._run(self._execute_args("--command", sql, "--json"))
        try:
            return [result.get("results", []) for result in json.loads(out)]
        except (ValueError, AttributeError) as exc:
            raise D1Error(f"wrangler returned no rows from {self.describe()}: {out[:300]}") from exc

    def apply_file(self, path):
        """One part of the patch: locally one batch, remotely one import; all
        or nothing either way."""
        self._run(self._execute_args("--file", str(path)))

    def _execute_args(self, *args):
        extra = ["--persist-to", str(self.persist_to)] if self.persist_to else []
        return ["execute", self.database, self.where, *args, "--yes", *extra]

    def export(self, tables, output):
        """wrangler d1 export of the tables, schema and data, into output."""
        args = ["export", self.database, self.where, "--output", str(output), "--skip-confirmation"]
        for table in tables:
            args += ["--table", table]
        if not self.persist_to:
            self._run(args)
            return
        # d1 export has no --persist-to: it reads <config folder>/.wrangler/state,
        # so a copy of the config beside a link to the chosen state folder.
        with tempfile.TemporaryDirectory() as folder:
            config = Path(folder) / self.config.name
            shutil.copy(self.config, config)
            (Path(folder) / ".wrangler").mkdir()
            (Path(folder) / ".wrangler" / "state").symlink_to(self.persist_to)
            self._run(args, config=config)


def retry_seconds():
    value = os.environ.get("D1_RETRY_SECONDS", "").strip() or "2"
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= 600:
        raise Refused(f"D1_RETRY_SECONDS={value!r} is not a number of seconds from 0 to 600")
    return seconds


def cause_of(proc):
    """wrangler's failure in one line, without colour codes: with --json the
    error's text and notes (where Cloudflare's code and message are); else the
    [ERROR] line of stderr and the notes under it."""
    stdout, stderr = ANSI.sub("", proc.stdout), ANSI.sub("", proc.stderr)
    try:
        error = json.loads(stdout)["error"]
        parts = [error.get("text") or ""] + [n.get("text", "") for n in error.get("notes") or []]
        return " ".join(p.strip() for p in parts if p and p.strip()) or json.dumps(error)
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    lines = [line.strip() for line in stderr.splitlines()]
    marks = [i for i, line in enumerate(lines) if "[ERROR]" in line]
    if marks:
        picked = [lines[marks[0]].split("[ERROR]", 1)[1]]
        picked += lines[marks[0] + 1 :]
    else:
        picked = (stderr + "\n" + stdout).splitlines()
    picked = [
        line.strip()
        for line in picked
        if line.strip()
        and not any(line.strip().startswith(n) for n in NOISE)
        and "Logs were written to" not in line
    ]
    return " ".join(picked[-6:]) or f"wrangler exited with {proc.returncode} and said nothing"
