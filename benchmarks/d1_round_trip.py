"""Time the D1 round trip (make d1-pull, d1-migrate, d1-push) on wrangler's
local D1 holding the benchmark's backend, then again after 1% of the rows
changed in D1. Writes its section of docs/benchmarks.md (--out), from its
heading to the end of the page; benchmarks/run_benchmark.py keeps it.

    .venv/bin/python benchmarks/d1_round_trip.py [--logbook 100000 --goals 10000
        --sessions 10000 --users 1000] [--folder /tmp/d1-bench]

The local D1 is filled through wrangler in statements of at most 100 KB, as
D1 takes them; that setup is not timed.
"""

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR / "tests_py"))

from d1_local import LocalD1, drop_orphans  # noqa: E402
from production_shape import make_production_shaped_sqlite  # noqa: E402

D1_SECTION = "## The D1 round trip"

CHANGE_1_PERCENT = [
    "update logbook_entries set notes = coalesce(notes, '') || ' (edited)',"
    " updated_at = updated_at + 1 where rowid % 100 = 0",
    "update goals set title = title || ' (edited)', updated_at = updated_at + 1"
    " where rowid % 100 = 0",
    "update practice_sessions set notes_attempted = coalesce(notes_attempted, 0) + 1"
    " where rowid % 100 = 0",
]


def fill(d1, seed, folder):
    """The seed file's tables into D1, in files of about 20 MB."""
    with sqlite3.connect(seed) as conn:
        lines = [
            line
            for line in conn.iterdump()
            if line not in ("BEGIN TRANSACTION;", "COMMIT;") and "sqlite_sequence" not in line
        ]
    # parents before children: each file is checked for foreign keys on its own
    parents = ["users", "practice_sessions", "goals", "logbook_entries"]

    def rank(line):
        if line.startswith("CREATE TABLE"):
            return (0, 0)
        if line.startswith("INSERT INTO"):
            table = line.split('"')[1]
            return (1, parents.index(table) if table in parents else len(parents))
        return (2, 0)

    lines.sort(key=rank)
    batch, size, number = ["PRAGMA defer_foreign_keys = true;"], 0, 0
    for line in [*lines, None]:
        if line is None or size > 20_000_000:
            number += 1
            path = folder / f"fill-{number}.sql"
            path.write_text("\n".join(batch) + "\n")
            d1.execute_file(path)
            path.unlink()
            batch, size = ["PRAGMA defer_foreign_keys = true;"], 0
        if line is not None:
            batch.append(line)
            size += len(line)


def timed(d1, target):
    started = time.monotonic()
    proc = subprocess.run(
        ["make", "--no-print-directory", target],
        cwd=PROJECT_DIR,
        env=d1.make_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"make {target} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    summary = [line for line in proc.stdout.splitlines() if line.startswith(("d1-", "migration "))]
    return time.monotonic() - started, summary


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--logbook", type=int, default=100_000)
    parser.add_argument("--goals", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--folder", default="/tmp/d1-bench")
    parser.add_argument("--out", default=str(PROJECT_DIR / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    folder = Path(args.folder)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    seed = folder / "seed.db"
    subprocess.run(
        [
            sys.executable,
            str(PROJECT_DIR / "benchmarks" / "generate_backend.py"),
            "build",
            str(seed),
            "--users",
            str(args.users),
            "--logbook",
            str(args.logbook),
            "--goals",
            str(args.goals),
            "--sessions",
            str(args.sessions),
        ],
        check=True,
        env=dict(os.environ, DO_NOT_TRACK="1"),
    )
    make_production_shaped_sqlite(seed)
    with sqlite3.connect(seed) as conn:
        drop_orphans(conn)
    d1 = LocalD1(folder / "app")
    fill(d1, seed, folder)
    rows = args.logbook + args.goals + args.sessions
    results = []
    for label in ("initial", "1% changed"):
        if label != "initial":
            d1.execute(";\n".join(CHANGE_1_PERCENT))
        for step in ("d1-pull", "d1-migrate", "d1-push"):
            seconds, summary = timed(d1, step)
            results.append((label, step, seconds, summary[-1] if summary else ""))
            print(f"{label} {step}: {seconds:.1f} s", flush=True)
    command = "`.venv/bin/python benchmarks/d1_round_trip.py" + (
        "".join(f" {a}" for a in sys.argv[1:]) + "`"
    )
    lines = [
        D1_SECTION,
        "",
        f"Measured on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with {command}, on"
        f" wrangler's local D1 (workerd, the same machine): {rows:,} backend rows"
        f" ({args.logbook:,} logbook entries, {args.goals:,} goals, {args.sessions:,} practice"
        f" sessions, {args.users:,} users) in production's shape, then 1% of each table"
        " changed in D1. Each time is the whole `make` command, wrangler's start-ups included.",
        "",
        "| run | step | seconds | what it printed |",
        "| --- | --- | ---: | --- |",
    ]
    for label, step, seconds, summary in results:
        cut = summary.split(": ", 1)[-1][:200].replace("|", "\\|")
        lines.append(f"| {label} | `make {step}` | {seconds:.1f} | {cut} |")
    push = {label: seconds for label, step, seconds, _ in results if step == "d1-push"}
    changed = sum(max(1, n // 100) for n in (args.logbook, args.goals, args.sessions))
    lines += [
        "",
        f"The initial push costs {push['initial'] / rows * 1000:.1f} ms per row, the 1% push"
        f" {push['1% changed'] / changed * 1000:.1f} ms per changed row, start-ups and the"
        " read-back included: a push costs in proportion to the change. A row is four"
        " statements (the guarded write, the sequence, the ledger's update and insert), and"
        " wrangler's local D1 spends about 1.5 ms on each whether it writes or not (a part"
        " applied a second time, every guard failing, takes as long as the first time).",
        "Multi-row statements would cut that; remotely each part is one import instead.",
        "",
    ]
    page = Path(args.out)
    old = page.read_text() if page.exists() else ""
    kept = old[: old.index(D1_SECTION)] if D1_SECTION in old else old
    page.write_text(kept.rstrip("\n") + "\n\n" + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
