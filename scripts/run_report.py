"""Write the run report: one self-contained HTML page an operator opens from a file.

    usage: run_report.py [--target TARGET] [--database PATH] [--diff CSV] [--out HTML]

It reads what the runs recorded and nothing else: migration_runs (the history
chart and table, one point per run), the document diff file of the latest
run (target/run_diff.csv, written by every dry and real run), migration_conflicts
with the document each conflict lost beside the one sync_data keeps, and
migration_rejects with their reasons. It opens SQLite read-only and PostgreSQL
(TARGET=postgres, the SYNC_PG_* variables of profiles.yml) in a read-only
transaction: it changes nothing. The page carries its chart library (uPlot,
from node_modules) and its data inline, so it needs no network.
Exits 0 with the page's path on stdout, or 2 with one paragraph on stderr.
"""

import argparse
import csv
import json
import os
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import jinja2

PROJECT_DIR = Path(__file__).resolve().parent.parent
UPLOT = PROJECT_DIR / "node_modules" / "uplot" / "dist"
# migration_runs' counts, in the chart's order, with the chart's labels
SERIES = [
    ("inserted_count", "inserted"),
    ("updated_count", "updated"),
    ("tombstoned_count", "tombstoned"),
    ("revived_count", "revived"),
    ("kept_for_api_count", "kept for the API"),
    ("conflict_count", "conflicts"),
    ("error_count", "rejected"),
]
ROW_LIMIT = 200
EXAMPLES = 3


class ReportError(Exception):
    """Why no report was written; the message says what to do."""


def connect(target, database):
    """A read-only DB-API connection and its parameter style."""
    if target == "postgres":
        import psycopg2

        env = os.environ
        conn = psycopg2.connect(
            host=env.get("SYNC_PG_HOST", "127.0.0.1"),
            port=int(env.get("SYNC_PG_PORT", "5432")),
            user=env.get("SYNC_PG_USER", "postgres"),
            password=env.get("SYNC_PG_PASSWORD", ""),
            dbname=env.get("SYNC_PG_DATABASE", "sync"),
            options=f"-c search_path={env.get('SYNC_PG_SCHEMA', 'public')}"
            " -c default_transaction_read_only=on",
        )
        return conn, "postgres"
    path = Path(database)
    if not path.is_file() or path.stat().st_size == 0:
        raise ReportError(
            f"The database {database} does not exist or is empty: set SYNC_DB_PATH to the"
            " database the migration ran on. No report was written."
        )
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    return sqlite3.connect(uri, uri=True), "sqlite"


def rows(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def tables(conn, engine):
    if engine == "sqlite":
        found = rows(conn, "select name from sqlite_master where type = 'table'")
    else:
        found = rows(
            conn,
            "select table_name as name from information_schema.tables"
            " where table_schema = current_schema()",
        )
    return {r["name"] for r in found}


def columns(conn, engine, table):
    if engine == "sqlite":
        return {r["name"] for r in rows(conn, f"select name from pragma_table_info('{table}')")}
    return {
        r["name"]
        for r in rows(
            conn,
            "select column_name as name from information_schema.columns"
            f" where table_schema = current_schema() and table_name = '{table}'",
        )
    }


def epoch_seconds(text):
    """A recorded time ('2026-12-07 06:59:09', ISO with T or Z) as Unix seconds."""
    if text is None:
        return None
    if isinstance(text, datetime):
        moment = text
    else:
        try:
            moment = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def run_history(conn, engine):
    """One row per run (run_id) of migration_runs, oldest first, with its summed counts."""
    if "migration_runs" not in tables(conn, engine):
        return []
    have = columns(conn, engine, "migration_runs")
    run_key = "run_id" if "run_id" in have else "id"
    counts = ", ".join(
        f"sum(coalesce({column}, 0)) as {column}" if column in have else f"0 as {column}"
        for column, _ in SERIES
    )
    history = rows(
        conn,
        f"select {run_key} as run_id, min(target_name) as target_name,"
        " min(started_at) as started_at, max(completed_at) as completed_at,"
        " min(status) as status, max(status) as other_status,"
        " sum(coalesce(processed_count, 0)) as processed_count, "
        f"{counts} from migration_runs group by {run_key}"
        " order by max(coalesce(completed_at, started_at)), run_id",
    )
    for run in history:
        if run["other_status"] != run["status"]:
            run["status"] = f"{run['status']}/{run['other_status']}"
        run["when"] = epoch_seconds(run["completed_at"]) or epoch_seconds(run["started_at"])
    return history


def chart_data(history):
    """uPlot's columns: times, then one list per count; a run without a
    readable time sits one second after the one before it."""
    times, last = [], None
    for run in history:
        when = run["when"] if run["when"] is not None else (last or 0) + 1
        when = max(when, last) if last is not None else when
        times.append(when)
        last = when
    return [times] + [[int(run[column]) for run in history] for column, _ in SERIES]


def diff_groups(path):
    """The diff file's groups: per (entity type, action, conflict, changed
    fields) the number of keys and the first few with their changes."""
    if not path.is_file():
        return None, []
    groups, run_ids = {}, set()
    with open(path, newline="") as f:
        for line in csv.DictReader(f):
            run_ids.add(line["run_id"])
            name = (
                line["entity_type"],
                line["action"],
                line["conflict_kind"],
                line["changed_fields"],
            )
            group = groups.setdefault(name, {"keys": {}})
            key = (line["user_id"], line["entity_id"])
            changes = group["keys"].setdefault(key, [])
            if line["field"]:
                changes.append(
                    (
                        line["field"],
                        line["before_value"] or "(absent)",
                        line["after_value"] or "(absent)",
                    )
                )
    listed = []
    for (entity_type, action, conflict_kind, fields), group in sorted(
        groups.items(), key=lambda item: (item[0][0], item[0][1], -len(item[1]["keys"]))
    ):
        examples = sorted(group["keys"].items())[:EXAMPLES]
        listed.append(
            {
                "entity_type": entity_type,
                "action": action,
                "conflict_kind": conflict_kind,
                "fields": fields,
                "count": len(group["keys"]),
                "examples": [
                    {"user_id": key[0], "entity_id": key[1], "changes": changes}
                    for key, changes in examples
                ],
            }
        )
    return (run_ids.pop() if len(run_ids) == 1 else None), listed


def conflicts(conn, engine):
    found = tables(conn, engine)
    if "migration_conflicts" not in found:
        return 0, []
    kept = (
        "(select s.data from sync_data as s where s.user_id = c.user_id"
        " and s.entity_type = c.entity_type and s.entity_id = c.entity_id)"
        if "sync_data" in found
        else "null"
    )
    total = rows(conn, "select count(*) as n from migration_conflicts")[0]["n"]
    listed = rows(
        conn,
        f"select c.*, {kept} as kept_document from migration_conflicts as c"
        f" order by c.last_seen_at desc, c.entity_type, c.entity_id limit {ROW_LIMIT}",
    )
    return total, listed


def rejects(conn, engine):
    if "migration_rejects" not in tables(conn, engine):
        return 0, []
    total = rows(conn, "select count(*) as n from migration_rejects")[0]["n"]
    listed = rows(
        conn,
        "select entity_type, entity_id, entity_key, user_id, reason, value, last_seen_at"
        f" from migration_rejects order by entity_type, reason, entity_id limit {ROW_LIMIT}",
    )
    return total, listed


def pretty(document):
    """A document indented for reading, or as stored when it is not JSON."""
    if document is None:
        return ""
    try:
        return json.dumps(json.loads(document), indent=2, ensure_ascii=False)
    except ValueError:
        return str(document)


def script_json(value):
    """JSON that is safe inside a <script> element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(target, database, diff_path):
    try:
        library = (UPLOT / "uPlot.iife.min.js").read_text()
        style = (UPLOT / "uPlot.min.css").read_text()
    except OSError as exc:
        raise ReportError(
            f"The chart library is missing ({exc.filename}): run `make setup`, which installs"
            " it from package-lock.json. No report was written."
        ) from None
    try:
        conn, engine = connect(target, database)
    except ReportError:
        raise
    except Exception as exc:  # the driver's own errors say what failed
        raise ReportError(
            f"The {target} database could not be opened: {exc}. No report was written."
        ) from None
    try:
        history = run_history(conn, engine)
        conflict_total, conflict_rows = conflicts(conn, engine)
        reject_total, reject_rows = rejects(conn, engine)
    except Exception as exc:
        raise ReportError(
            f"The run history of the {target} database could not be read: {exc}. No report was written."
        ) from None
    finally:
        conn.close()
    diff_run, groups = diff_groups(diff_path)
    recorded = {run["run_id"] for run in history}
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("run_report")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return environment.get_template("report.html.j2").render(
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        target=target,
        database="PostgreSQL schema " + os.environ.get("SYNC_PG_SCHEMA", "public")
        if engine == "postgres"
        else str(database),
        history=history,
        recent=list(reversed(history))[:ROW_LIMIT],
        series=[label for _, label in SERIES],
        chart=script_json(chart_data(history)),
        diff_path=str(diff_path),
        diff_run=diff_run,
        diff_is_dry=diff_run is not None and diff_run not in recorded,
        # a failed run's transaction wrote nothing of what its diff lists
        diff_failed=any(run["run_id"] == diff_run and "failed" in run["status"] for run in history),
        groups=groups,
        conflict_total=conflict_total,
        conflicts=[
            dict(c, lost=pretty(c["lost_document"]), kept=pretty(c["kept_document"]))
            for c in conflict_rows
        ],
        reject_total=reject_total,
        rejects=reject_rows,
        row_limit=ROW_LIMIT,
        library=jinja2.utils.markupsafe.Markup(library.replace("</script", "<\\/script")),
        style=jinja2.utils.markupsafe.Markup(style),
    )


def write(out, page):
    """Written beside, then renamed: a failed write leaves the old report whole."""
    partial = out.with_name(out.name + ".partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(page, encoding="utf-8")
        partial.replace(out)
    except OSError as exc:
        try:
            partial.unlink(missing_ok=True)
        except OSError:
            pass
        raise ReportError(
            f"The report could not be written to {out} ({exc.strerror}): choose a writable"
            " folder with REPORT=. The database was not changed."
        ) from None


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="dev")
    parser.add_argument("--database", default="data/dev.db")
    parser.add_argument("--diff", default="target/run_diff.csv")
    parser.add_argument("--out", default="target/run_report.html")
    args = parser.parse_args(argv[1:])
    try:
        page = render(args.target, args.database, Path(args.diff))
        write(Path(args.out), page)
    except ReportError as exc:
        print(f"run_report: {exc}", file=sys.stderr)
        return 2
    print(f"run report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
