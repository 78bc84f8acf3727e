"""Build a realistic backend database of a chosen size, or change one.

    generate_backend.py build  DB [--users N --logbook N --goals N --sessions N --seed S]
    generate_backend.py change DB --changed 0.01 --added 0.001 [--seed S]

`build` creates the backend tables (the backend DDL, through the project's
own `create_dev_tables` operation, which also creates the API's sync_data)
and fills them with values shaped like the contract's examples, the same for
the same seed. `change` updates a fraction of each table's rows (in a way that
changes their documents) and adds new rows, for incremental runs.
"""

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
T0 = 1_672_531_200_000  # 2023-01-01
YEAR_MS = 365 * 86_400_000

COMPOSERS = ["Bach", "Chopin", "Debussy", "Tárrega", "Satie", "Beethoven", "Villa-Lobos", "Mozart"]
TITLES = [
    "Clair de Lune",
    "Lágrima",
    "Prelude in C",
    "Gymnopédie No. 1",
    "Nocturne Op. 9 No. 2",
    "Für Elise",
    "Recuerdos de la Alhambra",
    "Invention No. 8",
    "Étude Op. 10 No. 3",
]
TECHNIQUES = [
    "scales",
    "arpeggios",
    "legato",
    "staccato",
    "tremolo",
    "barre",
    "sight-reading",
    "pedalling",
]
TAGS = ["morning", "focus", "warm-up", "recital", "slow practice", "metronome", "🎹", "review"]
NOTES = [
    None,
    "",
    "Worked on dynamics",
    "Left hand still uneven — slow down",
    'She said "slower"',
    "Great session 🎉",
    "Tempo 72 → 80",
    "Memorised the first page\nSecond page next",
    "naïve café",
]


def create_tables(db):
    env = dict(os.environ, SYNC_DB_PATH=str(db), DBT_SEND_ANONYMOUS_USAGE_STATS="False")
    subprocess.run(
        [str(PROJECT_DIR / ".venv/bin/dbt"), "run-operation", "create_dev_tables", "--quiet"],
        cwd=PROJECT_DIR,
        env=env,
        check=True,
    )


def pieces(rng):
    items = []
    for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
        piece = {"title": rng.choice(TITLES), "composer": rng.choice(COMPOSERS)}
        if rng.random() < 0.3:
            piece["measures"] = rng.randint(8, 200)
        if rng.random() < 0.2:
            piece["tempo"] = rng.choice([60, 72.5, 96.0, 120])
        items.append(piece)
    return json.dumps(
        items, ensure_ascii=False, separators=(",", ":") if rng.random() < 0.7 else (", ", ": ")
    )


def string_list(rng, pool, most=3):
    return json.dumps(rng.sample(pool, rng.randint(0, most)), ensure_ascii=False)


def logbook_row(rng, i, n_users, n_goals, n_sessions):
    ts = T0 + rng.randrange(2 * YEAR_MS)
    goal_ids = [f"goal_{rng.randrange(n_goals)}" for _ in range(rng.choice([0, 0, 1, 2]))]
    return (
        f"le_{i}",
        f"user_{rng.randrange(n_users)}",
        ts,
        rng.randint(60, 7200),
        rng.choice(["PRACTICE", "PRACTICE", "LESSON", "PERFORMANCE", "REHEARSAL"]),
        rng.choice(["PIANO", "GUITAR"]),
        pieces(rng),
        string_list(rng, TECHNIQUES),
        json.dumps(goal_ids),
        rng.choice(NOTES),
        rng.choice([None, "", "NEUTRAL", "SATISFIED", "EXCITED", "FRUSTRATED"]),
        string_list(rng, TAGS, 2),
        rng.choice([None, "", f"ps_{rng.randrange(n_sessions)}"]),
        rng.choice([None, None, '{"source":"timer"}', '{"source":"manual","device":"iPad"}']),
        ts + rng.randint(0, 60_000),
        ts + rng.randint(60_000, 86_400_000),
    )


def goal_row(rng, i, n_users):
    created = T0 + rng.randrange(2 * YEAR_MS)
    milestones = [
        {"title": f"Step {k + 1}", "done": rng.random() < 0.5} for k in range(rng.randint(0, 4))
    ]
    done = rng.random() < 0.3
    return (
        f"goal_{i}",
        f"user_{rng.randrange(n_users)}",
        rng.choice(TITLES) + rng.choice(["", " by June", " cleanly"]),
        rng.choice([None, "", "Tempo and evenness", "Für den Frühling 🌸"]),
        rng.choice([None, 0, created + rng.randrange(YEAR_MS)]),
        rng.choice(
            [
                0.0,
                12.5,
                33.333333333333336,
                50.0,
                66.66666666666667,
                100.0,
                round(rng.random() * 100, 2),
            ]
        ),
        json.dumps(milestones),
        "COMPLETED" if done else rng.choice(["ACTIVE", "ACTIVE", "PAUSED", "CANCELLED"]),
        json.dumps([f"le_{rng.randrange(1000)}" for _ in range(rng.choice([0, 0, 1, 3]))]),
        created,
        created + rng.randrange(YEAR_MS // 4),
        created + rng.randrange(YEAR_MS) if done else None,
    )


def session_row(rng, i, n_users):
    start = T0 + rng.randrange(2 * YEAR_MS)
    seconds, ms = divmod(start, 1000)
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))
    form = rng.random()
    if form < 0.4:
        started = text
    elif form < 0.6:
        started = f"{text}.{ms:03d}"
    elif form < 0.8:
        started = text.replace(" ", "T") + rng.choice(["Z", "+02:00", "-05:30", ""])
    else:
        started = start
    end = start + rng.randint(300_000, 5_400_000)
    completed = rng.choice(
        [None, end, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(end // 1000))]
    )
    attempted = rng.randint(0, 3000)
    return (
        f"ps_{i}",
        f"user_{rng.randrange(n_users)}",
        rng.choice(["PIANO", "GUITAR"]),
        rng.choice([None, "", f"sheet_{rng.randrange(500)}"]),
        rng.choice(["FREE_PRACTICE", "GUIDED_PRACTICE", "ASSESSMENT"]),
        started,
        completed,
        rng.choice([None, 0, rng.randint(0, 600)]),
        rng.choice([None, 0.0, round(rng.random() * 100, 2), 87.5, 91.66666666666667]),
        attempted,
        rng.randint(0, attempted),
    )


LOGBOOK_COLUMNS = (
    "id, user_id, timestamp, duration, type, instrument, pieces, techniques, goal_ids, notes, "
    "mood, tags, session_id, metadata, created_at, updated_at"
)
GOAL_COLUMNS = (
    "id, user_id, title, description, target_date, progress, milestones, status, linked_entries, "
    "created_at, updated_at, completed_at"
)
SESSION_COLUMNS = (
    "id, user_id, instrument, sheet_music_id, session_type, started_at, completed_at, "
    "paused_duration, accuracy_percentage, notes_attempted, notes_correct"
)


def insert(conn, table, columns, rows):
    marks = ", ".join("?" * len(columns.split(", ")))
    conn.executemany(f"insert into {table} ({columns}) values ({marks})", rows)


def fill(conn, rng, users, logbook, goals, sessions, first=0):
    insert(
        conn,
        "logbook_entries",
        LOGBOOK_COLUMNS,
        (
            logbook_row(rng, first + i, users, max(goals, 1), max(sessions, 1))
            for i in range(logbook)
        ),
    )
    insert(conn, "goals", GOAL_COLUMNS, (goal_row(rng, first + i, users) for i in range(goals)))
    insert(
        conn,
        "practice_sessions",
        SESSION_COLUMNS,
        (session_row(rng, first + i, users) for i in range(sessions)),
    )


def build(args):
    db = Path(args.db)
    if db.exists():
        sys.exit(f"{db} exists; build makes a new database")
    started = time.monotonic()
    create_tables(db)
    rng = random.Random(args.seed)
    conn = sqlite3.connect(db)
    conn.execute("pragma journal_mode = off")
    conn.execute("pragma synchronous = off")
    insert(
        conn,
        "users",
        "id, email, display_name, primary_instrument",
        (
            (
                f"user_{i}",
                f"user_{i}@example.com",
                rng.choice([None, "", f"Player {i}"]),
                rng.choice(["PIANO", "GUITAR"]),
            )
            for i in range(args.users)
        ),
    )
    fill(conn, rng, args.users, args.logbook, args.goals, args.sessions)
    conn.commit()
    conn.close()
    print(
        f"built {db}: {args.users} users, {args.logbook} logbook entries, {args.goals} goals, "
        f"{args.sessions} practice sessions in {time.monotonic() - started:.1f} s"
    )


def change(args):
    """Change `changed` of each table's rows and add `added` new ones. The rows
    picked are spread over the table (every k-th row, from the seed)."""
    conn = sqlite3.connect(args.db)
    rng = random.Random(args.seed)
    counts = {}
    for table, column, new_value in [
        ("logbook_entries", "duration", "duration + 1"),
        ("goals", "title", "title || ' (edited)'"),
        ("practice_sessions", "notes_attempted", "coalesce(notes_attempted, 0) + 1"),
    ]:
        total = conn.execute(f"select count(*) from {table}").fetchone()[0]
        step = max(1, round(1 / args.changed)) if args.changed > 0 else 0
        if step:
            offset = rng.randrange(step)
            cur = conn.execute(
                f"update {table} set {column} = {new_value} where (rowid + {offset}) % {step} = 0"
            )
            counts[table] = [cur.rowcount, 0, total]
        else:
            counts[table] = [0, 0, total]
    users = conn.execute("select count(*) from users").fetchone()[0]
    added = {t: round(counts[t][2] * args.added) for t in counts}
    first = 10_000_000 + rng.randrange(1_000_000) * 10
    fill(
        conn,
        rng,
        users,
        added["logbook_entries"],
        added["goals"],
        added["practice_sessions"],
        first=first,
    )
    conn.commit()
    for table in counts:
        counts[table][1] = added[table]
    print(json.dumps({t: {"changed": c[0], "added": c[1]} for t, c in counts.items()}))
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("db")
    b.add_argument("--users", type=int, default=10_000)
    b.add_argument("--logbook", type=int, default=1_000_000)
    b.add_argument("--goals", type=int, default=100_000)
    b.add_argument("--sessions", type=int, default=100_000)
    b.add_argument("--seed", type=int, default=42)
    c = sub.add_parser("change")
    c.add_argument("db")
    c.add_argument("--changed", type=float, default=0.01)
    c.add_argument("--added", type=float, default=0.001)
    c.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    return build(args) if args.command == "build" else change(args)


if __name__ == "__main__":
    main()
