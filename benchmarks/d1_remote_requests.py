"""Count what the D1 round trip asks of Cloudflare's API with D1_REMOTE=1, on
the stand-in for it (tests_py/d1/cloudflare_api.py: SQLite files behind D1's
endpoints on 127.0.0.1): imports, query requests and bytes uploaded per step,
for the initial run, after 1% of the backend changed, and for a cutover (sync_data
already right, no ledger: every row adopted, only its ledger entry pushed). Writes its section
of docs/benchmarks.md (--out), from its heading to the next one.

    .venv/bin/python benchmarks/d1_remote_requests.py [--logbook 85000 --goals 7500
        --sessions 7500 --users 850] [--folder /tmp/d1-remote-bench] [--out docs/benchmarks.md]

The counts are Cloudflare's side of the work (the stand-in serves a query in
microseconds, so its times say nothing of D1's); wrangler's start-ups and
this machine's SQLite are in the seconds.
"""

import argparse
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR / "tests_py"))
sys.path.insert(0, str(PROJECT_DIR / "tests_py" / "d1"))
sys.path.insert(0, str(PROJECT_DIR / "benchmarks"))

from cloudflare_api import Standin  # noqa: E402
from d1_local import LocalD1  # noqa: E402
from d1_round_trip import CHANGE_1_PERCENT, build_seed, replace_section  # noqa: E402

SECTION = "## Remote D1 requests"
DATABASE_ID = "6f1c2a4e-0000-4000-8000-000000000001"
STEPS = ("d1-pull", "d1-migrate", "d1-push")


def counts(api):
    return {
        "imports": api.count("import:ingest"),
        "queries": api.count("query"),
        "exports": api.count("download"),
        "uploaded": sum(len(body) for body in api.uploads.values()),
    }


def run(d1, api, step):
    before = counts(api)
    started = time.monotonic()
    proc = subprocess.run(
        ["make", "--no-print-directory", step, "D1_REMOTE=1"],
        cwd=PROJECT_DIR,
        env=d1.make_env(**api.env()),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"make {step} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    after = counts(api)
    summary = [line for line in proc.stdout.splitlines() if line.startswith("d1-")]
    return time.monotonic() - started, {k: after[k] - before[k] for k in after}, summary


def main():
    started = time.monotonic()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--logbook", type=int, default=85_000)
    parser.add_argument("--goals", type=int, default=7_500)
    parser.add_argument("--sessions", type=int, default=7_500)
    parser.add_argument("--users", type=int, default=850)
    parser.add_argument("--folder", default="/tmp/d1-remote-bench")
    parser.add_argument("--out", default=str(PROJECT_DIR / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    folder = Path(args.folder)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    seed = folder / "seed.db"
    build_seed(seed, args)
    api = Standin(folder / "cloudflare")
    api.add(DATABASE_ID, "practice", seed)
    d1 = LocalD1(folder / "app", name="practice")
    rows = args.logbook + args.goals + args.sessions
    results = []
    try:
        for label in ("initial", "1% changed", "cutover"):
            with api.lock, sqlite3.connect(api.path(DATABASE_ID)) as conn:
                if label == "1% changed":
                    for statement in CHANGE_1_PERCENT:
                        conn.execute(statement)
                if label == "cutover":
                    # sync_data as right as the migration leaves it, with no
                    # ledger: every row is adopted, and the push writes only
                    # its ledger entry (the first run after the old script)
                    conn.execute("delete from migration_ledger")
            for step in STEPS:
                seconds, delta, summary = run(d1, api, step)
                results.append((label, step, seconds, delta, summary[-1] if summary else ""))
                print(f"{label} {step}: {seconds:.1f} s {delta}", flush=True)
    finally:
        api.close()
    push = {label: delta for label, step, _, delta, _ in results if step == "d1-push"}
    per = 100_000 / rows
    lines = [
        SECTION,
        "",
        f"Measured on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with"
        f" `.venv/bin/python benchmarks/d1_remote_requests.py --logbook {args.logbook}"
        f" --goals {args.goals} --sessions {args.sessions} --users {args.users}`: every step"
        f" with `D1_REMOTE=1` against the stand-in for Cloudflare's API"
        f" (tests_py/d1/cloudflare_api.py), {rows:,} backend rows in production's shape, then"
        " 1% of each backend table changed, then the ledger emptied in D1 (a cutover:"
        " sync_data right, every row adopted, the push writes its ledger entries)."
        " The counts are what Cloudflare would be asked;"
        " the stand-in answers in microseconds, so the seconds are wrangler and this"
        " machine, not D1.",
        "",
        "| run | step | seconds | imports | query requests | uploaded (MB) | what it printed |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for label, step, seconds, delta, summary in results:
        cut = summary.split(": ", 1)[-1][:160].replace("|", "\\|")
        lines.append(
            f"| {label} | `make {step} D1_REMOTE=1` | {seconds:.1f} | {delta['imports']}"
            f" | {delta['queries']} | {delta['uploaded'] / 1e6:.1f} | {cut} |"
        )
    first, cutover = push["initial"], push["cutover"]
    lines += [
        "",
        f"The cutover's push made {cutover['imports']} import(s) and {cutover['queries']}"
        f" query requests and uploaded {cutover['uploaded'] / 1e6:.1f} MB for {rows:,}"
        " ledger entries.",
        "",
        f"Per 100,000 backend rows, the initial push made {first['imports'] * per:.1f} imports"
        f" and {first['queries'] * per:.1f} query requests and uploaded"
        f" {first['uploaded'] * per / 1e6:.0f} MB; one import per"
        f" {rows / max(first['imports'], 1):,.0f} rows. The read-back is one query request"
        " whatever the number of rows (guard.py: D1 counts the outcomes).",
        "",
        f"The whole run, seed included, took {(time.monotonic() - started) / 60:.1f} minutes.",
        "",
    ]
    replace_section(Path(args.out), SECTION, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
