"""A stand-in for Cloudflare's D1 API on 127.0.0.1, for `--remote` runs of
wrangler in the tests (wrangler sends them to CLOUDFLARE_API_BASE_URL).

Each database is a plain SQLite file. What it answers is what
../shared/D1_NOTES.md ("The remote path") reads from wrangler 4.86's source
and tests, with D1's documented behaviour:

- a query request is one batch: every statement or none, one result each;
- an import (init → PUT upload → ingest → poll) runs whole or not at all, and
  an etag already imported answers as done without running again;
- an export (polling) is a dump of the asked tables, altered as D1's dump
  alters values (an integral REAL as an integer; a newline as
  replace('…','\\n',char(10)) with the text's own backslashes left as they
  are), served from a signed URL;
- Time Travel: a bookmark is a copy of the database at that moment, and a
  restore puts the whole file back;
- errors in Cloudflare's envelope, {"success": false, "errors": [{code,
  message}]}, with the HTTP status.

Faults are queued with `fail(...)`: the next requests that match get the given
status and error instead of their answer (after doing the work when
`after=True`, as a 5xx on a poll whose import applied).
"""

import hashlib
import json
import shutil
import sqlite3
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ACCOUNT = "0123456789abcdef0123456789abcdef"
TOKEN = "test-token"


def split_statements(sql):
    """The statements of a SQL text, as SQLite reads them (a ';' inside a
    literal or a trigger body does not end one)."""
    out, start, at = [], 0, sql.find(";")
    while at != -1:
        chunk = sql[start : at + 1]
        if sqlite3.complete_statement(chunk):
            if chunk.strip(" \t\r\n;"):
                out.append(chunk)
            start = at + 1
        at = sql.find(";", at + 1)
    if sql[start:].strip(" \t\r\n;"):
        out.append(sql[start:])
    return out


def dump_value(value):
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"X'{value.hex().upper()}'"
    if isinstance(value, float):
        # D1's dump writes an integral REAL as an integer
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, int):
        return str(value)
    text = "'" + value.replace("'", "''") + "'"
    if "\n" in value:
        # the dump's known flaw: the text's own "\n" is not escaped
        text = "replace(" + text.replace("\n", "\\n") + ",'\\n',char(10))"
    return text


class Standin:
    def __init__(self, folder, account=ACCOUNT, token=TOKEN):
        self.account, self.token = account, token
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.databases = {}  # uuid -> name
        self.lock = threading.Lock()
        self.faults = []
        self.requests = []
        self.uploads = {}
        self.imports = {}  # etag -> final poll answer
        self.exports = {}
        self.import_fail_after = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/client/v4"

    def env(self):
        """What wrangler needs to reach this stand-in and nothing else."""
        return {
            "CLOUDFLARE_API_BASE_URL": self.base_url,
            "CLOUDFLARE_API_TOKEN": self.token,
            "CLOUDFLARE_ACCOUNT_ID": self.account,
        }

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def add(self, database_id, name, sqlite_file):
        shutil.copy(sqlite_file, self.path(database_id))
        self.databases[database_id] = name

    def path(self, database_id):
        return self.folder / f"{database_id}.sqlite"

    def connect(self, database_id):
        conn = sqlite3.connect(self.path(database_id), isolation_level=None)
        conn.execute("pragma foreign_keys = on")
        return conn

    def fail(
        self,
        what,
        status=500,
        code=7500,
        message="Internal Server Error",
        times=1,
        after=False,
        armed=None,
    ):
        """The next `times` requests matching `what` ("query", "import:init",
        "import:ingest", "import:poll", "export", "download", "bookmark",
        "upload") answer status with Cloudflare's error envelope: before
        doing their work, or after it with after=True; only once armed()
        holds, when given."""
        self.faults.append(
            {
                "what": what,
                "status": status,
                "code": code,
                "message": message,
                "times": times,
                "after": after,
                "armed": armed,
            }
        )

    def count(self, what):
        return sum(1 for r in self.requests if r == what)

    # -- the API ---------------------------------------------------------

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                standin._serve(self, "GET")

            def do_POST(self):
                standin._serve(self, "POST")

            def do_PUT(self):
                standin._serve(self, "PUT")

        return Handler

    def _serve(self, request, method):
        url = urlparse(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        parts = url.path.strip("/").split("/")
        with self.lock:
            try:
                _, status, answer, headers = self._route(method, parts, url, body, request)
            except ApiFailure as failure:
                status, answer, headers = failure.status, failure.body, {}
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def _route(self, method, parts, url, body, request):
        if parts[:1] == ["upload"]:
            return self._upload(parts[1], body)
        if parts[:1] == ["download"]:
            what = "download"
            self.requests.append(what)
            self._maybe_fail(what, before=True)
            return what, 200, self.exports[parts[1]].encode(), {}
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise ApiFailure("auth", 403, envelope_error(10000, "Authentication error"))
        # /client/v4/accounts/{a}/d1/database[/{id}[/action[/sub]]]
        if parts[:3] != ["client", "v4", "accounts"] or parts[4:6] != ["d1", "database"]:
            raise ApiFailure("unknown", 404, envelope_error(7003, f"No route for {url.path}"))
        if parts[3] != self.account:
            raise ApiFailure("unknown", 403, envelope_error(10000, "Authentication error"))
        rest = parts[6:]
        if not rest:
            names = parse_qs(url.query).get("name")
            result = [
                {"uuid": u, "name": n, "version": "production"}
                for u, n in self.databases.items()
                if not names or n in names
            ]
            info = {"page": 1, "per_page": 1000, "count": len(result), "total_count": len(result)}
            return "list", 200, {**ok(result), "result_info": info}, {}
        database_id = rest[0]
        if database_id not in self.databases:
            raise ApiFailure(
                "unknown", 404, envelope_error(7404, "The database could not be found")
            )
        action = "/".join(rest[1:])
        payload = json.loads(body) if body else {}
        if action == "":
            self.requests.append("info")
            return (
                "info",
                200,
                ok(
                    {
                        "uuid": database_id,
                        "name": self.databases[database_id],
                        "version": "production",
                        "num_tables": 0,
                    }
                ),
                {},
            )
        if action == "query":
            return self._query(database_id, payload)
        if action == "import":
            return self._import(database_id, payload)
        if action == "export":
            return self._export(database_id, payload)
        if action == "time_travel/bookmark":
            return self._bookmark(database_id)
        if action == "time_travel/restore":
            return self._restore(database_id, parse_qs(url.query)["bookmark"][0])
        raise ApiFailure("unknown", 404, envelope_error(7003, f"No route for {action}"))

    def _maybe_fail(self, what, before):
        fault = self._fault_peek(what)
        if fault and fault["after"] != before:
            fault["times"] -= 1
            raise ApiFailure(what, fault["status"], envelope_error(fault["code"], fault["message"]))

    def _fault_peek(self, what):
        for fault in self.faults:
            if (
                fault["what"] == what
                and fault["times"] > 0
                and (fault["armed"] is None or fault["armed"]())
            ):
                return fault
        return None

    def _query(self, database_id, payload):
        what = "query"
        self.requests.append(what)
        self._maybe_fail(what, before=True)
        conn = self.connect(database_id)
        results = []
        try:
            conn.execute("begin")
            for statement in split_statements(payload["sql"]):
                cursor = conn.execute(statement)
                names = [d[0] for d in cursor.description or ()]
                rows = [
                    {
                        n: list(v) if isinstance(v, bytes) else v
                        for n, v in zip(names, row, strict=True)
                    }
                    for row in cursor.fetchall()
                ]
                results.append(
                    {
                        "results": rows,
                        "success": True,
                        "meta": {
                            "duration": 0.1,
                            "changes": max(cursor.rowcount, 0),
                            "rows_read": len(rows),
                            "rows_written": max(cursor.rowcount, 0),
                            "changed_db": cursor.rowcount > 0,
                            "last_row_id": cursor.lastrowid,
                        },
                    }
                )
            conn.execute("commit")
        except sqlite3.Error as error:
            conn.execute("rollback")
            raise ApiFailure(what, 400, envelope_error(7500, f"{error}: SQLITE_ERROR")) from None
        finally:
            conn.close()
        self._maybe_fail(what, before=False)
        return what, 200, ok(results), {}

    def _upload(self, filename, body):
        what = "upload"
        self.requests.append(what)
        self._maybe_fail(what, before=True)
        self.uploads[filename] = body
        return what, 200, b"", {"ETag": f'"{hashlib.md5(body).hexdigest()}"'}

    def _import(self, database_id, payload):
        what = f"import:{payload['action']}"
        self.requests.append(what)
        self._maybe_fail(what, before=True)
        if payload["action"] == "init":
            done = self.imports.get((database_id, payload["etag"]))
            if done:
                return what, 200, ok(done), {}
            filename = f"{payload['etag']}.sql"
            return (
                what,
                200,
                ok(
                    {
                        "success": True,
                        "filename": filename,
                        "upload_url": f"{self.base_url[: -len('/client/v4')]}/upload/{filename}",
                    }
                ),
                {},
            )
        if payload["action"] == "ingest":
            sql = self.uploads[payload["filename"]].decode()
            answer = self._apply(database_id, sql)
            if answer["status"] == "complete":
                self.imports[(database_id, payload["etag"])] = answer
            self.pending = answer
            self._maybe_fail(what, before=False)
            return (
                what,
                200,
                ok(
                    {
                        "success": True,
                        "status": "active",
                        "at_bookmark": "import-running",
                        "messages": ["Ingesting"],
                    }
                ),
                {},
            )
        answer = self.pending
        self._maybe_fail(what, before=False)
        return what, 200, ok(answer), {}

    def _apply(self, database_id, sql):
        conn = self.connect(database_id)
        statements = split_statements(sql)
        written = 0
        try:
            conn.execute("begin")
            conn.execute("pragma defer_foreign_keys = on")
            for number, statement in enumerate(statements):
                if self.import_fail_after is not None and number == self.import_fail_after:
                    self.import_fail_after = None
                    raise sqlite3.OperationalError("D1 reset the import (a fault of the test)")
                written += max(conn.execute(statement).rowcount, 0)
            conn.execute("commit")
        except sqlite3.Error as error:
            conn.execute("rollback")
            return {
                "success": True,
                "status": "error",
                "errors": [f"{error}: SQLITE_ERROR"],
                "messages": ["Import failed; the database is as it was"],
            }
        finally:
            conn.close()
        return {
            "success": True,
            "status": "complete",
            "type": "import",
            "at_bookmark": self._new_bookmark(database_id),
            "result": {
                "final_bookmark": "import-done",
                "num_queries": len(statements),
                "meta": {
                    "duration": 1.0,
                    "rows_read": 0,
                    "rows_written": written,
                    "size_after": self.path(database_id).stat().st_size,
                },
            },
            "messages": ["Import complete"],
        }

    def _export(self, database_id, payload):
        what = "export"
        self.requests.append(what)
        self._maybe_fail(what, before=True)
        if not payload.get("current_bookmark"):
            name = f"{uuid.uuid4().hex}.sql"
            self.exports[name] = self._dump(
                database_id, payload["dump_options"].get("tables") or []
            )
            return (
                what,
                200,
                ok(
                    {
                        "success": True,
                        "status": "active",
                        "at_bookmark": name,
                        "messages": ["Generating export"],
                    }
                ),
                {},
            )
        name = payload["current_bookmark"]
        base = self.base_url[: -len("/client/v4")]
        return (
            what,
            200,
            ok(
                {
                    "success": True,
                    "status": "complete",
                    "at_bookmark": name,
                    "result": {"filename": name, "signed_url": f"{base}/download/{name}"},
                    "messages": ["Uploaded part 1"],
                }
            ),
            {},
        )

    def _dump(self, database_id, tables):
        conn = self.connect(database_id)
        try:
            master = conn.execute(
                "select type, name, tbl_name, sql from sqlite_master where sql is not null"
                " and name not like 'sqlite_%' order by (type = 'table') desc, rowid"
            ).fetchall()
            chosen = [m for m in master if not tables or m[2] in tables]
            lines = ["PRAGMA defer_foreign_keys=TRUE;"]
            for kind, name, _tbl, sql in chosen:
                if kind != "table":
                    continue
                lines.append(f"{sql};")
                for row in conn.execute(f'select * from "{name}"'):
                    values = ",".join(dump_value(v) for v in row)
                    lines.append(f'INSERT INTO "{name}" VALUES({values});')
            lines += [f"{sql};" for kind, _n, _t, sql in chosen if kind != "table"]
            return "\n".join(lines) + "\n"
        finally:
            conn.close()

    def _new_bookmark(self, database_id):
        mark = f"{len(list(self.folder.glob('*.bookmark'))):08d}-{uuid.uuid4().hex[:8]}"
        shutil.copy(self.path(database_id), self.folder / f"{database_id}.{mark}.bookmark")
        return mark

    def _bookmark(self, database_id):
        what = "bookmark"
        self.requests.append(what)
        self._maybe_fail(what, before=True)
        return what, 200, ok({"bookmark": self._new_bookmark(database_id)}), {}

    def _restore(self, database_id, bookmark):
        what = "restore"
        self.requests.append(what)
        saved = self.folder / f"{database_id}.{bookmark}.bookmark"
        if not saved.exists():
            raise ApiFailure(what, 400, envelope_error(7500, f"unknown bookmark {bookmark}"))
        previous = self._new_bookmark(database_id)
        shutil.copy(saved, self.path(database_id))
        return (
            what,
            200,
            ok({"bookmark": bookmark, "previous_bookmark": previous, "message": "Restored"}),
            {},
        )


class ApiFailure(Exception):
    def __init__(self, what, status, body):
        super().__init__(what)
        self.what, self.status, self.body = what, status, body


def ok(result):
    return {"success": True, "result": result, "errors": [], "messages": []}


def envelope_error(code, message):
    return {
        "success": False,
        "result": None,
        "errors": [{"code": code, "message": message}],
        "messages": [],
    }
