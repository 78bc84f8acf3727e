"""The raw floor: the cost of the job done by hand with SQLite's native functions.

Per entity type one hand-written INSERT ... ON CONFLICT (user_id, entity_type,
entity_id) DO UPDATE ... WHERE the checksum differs; the document built with
json_object(), json() and strftime(), the checksum with sqlean's sha256(); all
in one transaction with a 512 MB page cache. Its documents are not byte-exact
(json_object is not JSON.stringify: numbers, key order of parsed objects,
datetime text forms), and it recomputes every document on every run. It is
what the project is measured against, not something it could ship.

    .venv/bin/python benchmarks/raw_floor.py DB     # one run, prints seconds and rows
"""

import sqlite3
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
CRYPTO_EXT = PROJECT_DIR / ".venv" / "sqlite-extensions" / "crypto.so"


def iso(column):
    """Unix ms → ISO 8601 with milliseconds, as strftime gives it."""
    return f"strftime('%Y-%m-%dT%H:%M:%fZ', {column} / 1000.0, 'unixepoch')"


def any_iso(column):
    """A Unix-ms number or a datetime text → ISO 8601 (SQLite's own parser)."""
    return (
        f"case when typeof({column}) = 'text' then strftime('%Y-%m-%dT%H:%M:%fZ', {column})"
        f" else {iso(column)} end"
    )


DOCUMENTS = {
    "logbook_entry": (
        "logbook_entries",
        f"""json_object(
    'id', id, 'timestamp', {iso("timestamp")}, 'duration', duration, 'type', type,
    'instrument', instrument, 'pieces', json(coalesce(nullif(pieces, ''), '[]')),
    'techniques', json(coalesce(nullif(techniques, ''), '[]')),
    'goalIds', json(coalesce(nullif(goal_ids, ''), '[]')), 'notes', nullif(notes, ''),
    'mood', nullif(mood, ''), 'tags', json(coalesce(nullif(tags, ''), '[]')),
    'sessionId', nullif(session_id, ''),
    'metadata', json(coalesce(nullif(metadata, ''), '{{"source":"manual"}}')),
    'createdAt', {iso("created_at")}, 'updatedAt', {iso("updated_at")})""",
    ),
    "goal": (
        "goals",
        f"""json_object(
    'id', id, 'title', title, 'description', nullif(description, ''),
    'targetDate', case when target_date is null or target_date = '' then null
        else {iso("target_date")} end,
    'progress', coalesce(progress, 0), 'milestones', json(coalesce(nullif(milestones, ''), '[]')),
    'status', coalesce(nullif(status, ''), 'ACTIVE'),
    'linkedEntries', json(coalesce(nullif(linked_entries, ''), '[]')),
    'createdAt', {iso("created_at")}, 'updatedAt', {iso("updated_at")},
    'completedAt', case when completed_at is null or completed_at = '' then null
        else {iso("completed_at")} end)""",
    ),
    "practice_session": (
        "practice_sessions",
        f"""json_object(
    'id', id, 'instrument', instrument, 'sheetMusicId', nullif(sheet_music_id, ''),
    'sessionType', session_type, 'startedAt', {any_iso("started_at")},
    'completedAt', case when completed_at is null or completed_at = '' then null
        else {any_iso("completed_at")} end,
    'pausedDuration', coalesce(paused_duration, 0),
    'accuracyPercentage', accuracy_percentage,
    'notesAttempted', coalesce(notes_attempted, 0), 'notesCorrect', coalesce(notes_correct, 0))""",
    ),
}


def statements(run_ms):
    """One upsert per entity type, keyed like sync_data's unique constraint."""
    result = {}
    for entity_type, (table, document) in DOCUMENTS.items():
        result[entity_type] = f"""
insert into sync_data (id, user_id, entity_type, entity_id, data, checksum, version,
                       created_at, updated_at)
select 'raw_{run_ms}_{entity_type[0]}_' || documents.id, documents.user_id,
       '{entity_type}', documents.id, documents.data, hex(sha256(documents.data)), 1,
       current_timestamp, current_timestamp
from (select id, user_id, {document} as data from {table}
      where user_id in (select id from users)) as documents
where true
on conflict (user_id, entity_type, entity_id) do update set
    data = excluded.data, checksum = excluded.checksum, version = sync_data.version + 1,
    updated_at = current_timestamp
where sync_data.checksum != excluded.checksum"""
    return result


def run(db):
    """One run on DB: (seconds, rows written)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.enable_load_extension(True)
    conn.load_extension(str(CRYPTO_EXT))
    conn.execute("pragma cache_size = -524288")
    started = time.monotonic()
    conn.execute("begin")
    written = sum(
        conn.execute(sql).rowcount for sql in statements(int(time.time() * 1000)).values()
    )
    conn.execute("commit")
    seconds = time.monotonic() - started
    conn.close()
    return seconds, written


if __name__ == "__main__":
    seconds, written = run(sys.argv[1])
    print(f"{seconds:.2f} s, {written} rows written")
