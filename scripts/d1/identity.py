"""Which D1 database a d1-* step talks to, named by what cannot collide.

The app's own wrangler config binds every environment's database as `DB`, so
a name or a binding says nothing about which database it is: the same `DB`
is the staging database under `[env.staging]` and production's at the top
level, and two configs in two folders each have a local D1 of their own. A
database is therefore identified the way wrangler itself finds it:

- remote: the `database_id` of the config's entry (a UUID Cloudflare gave it);
- local: the persist folder (D1_PERSIST_TO, else `.wrangler/state` beside the
  config) and the id wrangler keys the local file by
  (`preview_database_id`, else `database_id`, else the binding).

That identity names the local copy's default file and the lock every step
takes, and the pull records it, so a migrate or a push whose identity is not
the pull's is refused, naming both.
"""

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from wrangler import Refused

PROJECT_DIR = Path(__file__).resolve().parents[2]


def read_config(path):
    """A wrangler.toml, wrangler.json or wrangler.jsonc as a dict."""
    try:
        text = path.read_text()
        if path.suffix == ".toml":
            parsed = tomllib.loads(text)
        else:
            parsed = json.loads(strip_json_comments(text))
    except OSError as error:
        raise Refused(
            f"the wrangler config {path} cannot be read: {error.strerror}. Nothing was run."
        ) from error
    except (tomllib.TOMLDecodeError, ValueError) as error:
        raise Refused(
            f"the wrangler config {path} does not parse: {error}. Nothing was run."
        ) from error
    if not isinstance(parsed, dict):
        raise Refused(f"the wrangler config {path} is not a table of settings. Nothing was run.")
    return parsed


def strip_json_comments(text):
    """JSONC: // and /* */ comments outside strings, and trailing commas."""
    out, i, in_string = [], 0, False
    while i < len(text):
        char = text[i]
        if in_string:
            out.append(char)
            if char == "\\":
                out.append(text[i + 1 : i + 2])
                i += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = len(text) if i < 0 else i
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end < 0 else end + 2
            continue
        else:
            out.append(char)
        i += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


@dataclass(frozen=True)
class Target:
    config: Path
    env: str
    name: str
    binding: str
    database_name: str
    database_id: str
    local_id: str
    remote: bool
    persist_to: Path | None
    persist_given: bool = False

    @property
    def identity(self):
        """What names the database itself, whatever config or name reached it."""
        if self.remote:
            return {"where": "remote", "database_id": self.database_id}
        return {"where": "local", "persist_to": str(self.persist_to), "id": self.local_id}

    @property
    def key(self):
        text = json.dumps(self.identity, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def record(self):
        """The identity and how it was reached, as the pull records it."""
        return {
            "identity": self.identity,
            "key": self.key,
            "config": str(self.config),
            "env": self.env,
            "name": self.name,
            "database_name": self.database_name,
            "binding": self.binding,
        }

    def describe(self):
        where = "remote D1" if self.remote else "wrangler's local D1"
        env = f" (env {self.env})" if self.env else ""
        return f"{where} database {self.database_name}{env} [{self.key}] of {self.config}"

    def history_name(self):
        """migration_runs.target_name of a run pushed to this database."""
        place = "remote" if self.remote else "local"
        env = f" env {self.env}" if self.env else ""
        return f"d1 {place} {self.database_name}{env} [{self.key}]"

    def default_file(self):
        place = "remote" if self.remote else "local"
        readable = re.sub(
            r"[^A-Za-z0-9_.-]", "_", "-".join(filter(None, (self.database_name, self.env)))
        )
        return PROJECT_DIR / "data" / "d1" / f"{readable.lstrip('.')}-{place}-{self.key}.db"

    def lock_file(self):
        """One lock per database, whatever file or name a step uses."""
        return PROJECT_DIR / "data" / "d1" / "locks" / f"{self.key}.lock"


def describe_record(record):
    where = record["identity"]["where"]
    env = f" (env {record['env']})" if record.get("env") else ""
    return (
        f"{where} D1 database {record['database_name']}{env} [{record['key']}]"
        f" of {record['config']}"
    )


def resolve(database, config, env="", remote=False, persist_to=None):
    """The config's entry for D1_DATABASE under WRANGLER_ENV, as wrangler
    picks it (the first whose database_name or binding matches); a name the
    config does not declare is refused before wrangler runs, since remotely
    wrangler would look it up among every database of the account."""
    if not database or not database.strip():
        raise Refused("D1_DATABASE is not set: name the D1 database of the wrangler config.")
    if not config or not config.strip():
        raise Refused("WRANGLER_CONFIG is not set: give the path of the app's wrangler config.")
    path = Path(config).resolve()
    if not path.is_file():
        raise Refused(f"the wrangler config {config} does not exist. Nothing was run.")
    if env is not None and env != env.strip():
        raise Refused(f"WRANGLER_ENV={env!r} has blanks around it. Nothing was run.")
    if remote and persist_to:
        raise Refused("D1_PERSIST_TO is for wrangler's local D1; drop it with D1_REMOTE=1.")
    parsed = read_config(path)
    section, where = parsed, "at its top level"
    if env:
        envs = parsed.get("env") or {}
        if not isinstance(envs, dict) or not all(isinstance(e, dict) for e in envs.values()):
            raise Refused(
                f"the wrangler config {path} has an `env` that is not a table of environments."
                " Nothing was run."
            )
        if env not in envs:
            raise Refused(
                f"WRANGLER_ENV={env} is not an environment of {path}"
                f" (it has: {', '.join(sorted(envs)) or 'none'}). Nothing was run."
            )
        section, where = envs[env], f"under [env.{env}]"
    entries = section.get("d1_databases") or []
    if not isinstance(entries, list):
        raise Refused(f"d1_databases {where} in {path} is not a list. Nothing was run.")
    entries = [e for e in entries if isinstance(e, dict)]
    entry = next(
        (e for e in entries if database in (e.get("database_name"), e.get("binding"))), None
    )
    if entry is None:
        declared = ", ".join(
            f"{e.get('database_name')} (binding {e.get('binding')})" for e in entries
        )
        hint = "" if env else " Set WRANGLER_ENV for a database declared under [env.<name>]."
        raise Refused(
            f"D1_DATABASE={database} is not declared {where} in {path}"
            f" (declared: {declared or 'no D1 database'}).{hint} Nothing was run."
        )
    database_id = entry.get("database_id") or ""
    if remote and not database_id:
        raise Refused(
            f"{database} {where} in {path} has no database_id, which names the remote"
            " database. Nothing was run."
        )
    local_id = entry.get("preview_database_id") or database_id or entry.get("binding", "")
    folder = Path(persist_to).resolve() if persist_to else path.parent / ".wrangler" / "state"
    return Target(
        config=path,
        env=env or "",
        name=database,
        binding=entry.get("binding", ""),
        database_name=entry.get("database_name") or entry.get("binding", ""),
        database_id=database_id,
        local_id=local_id,
        remote=remote,
        persist_to=None if remote else folder,
        persist_given=bool(persist_to),
    )


def check_same(recorded, target, step, what):
    """Refuse a step on a file pulled from another database."""
    if "key" not in recorded:
        raise Refused(
            f"{what} was pulled by an older version of this tool, which did not record which"
            f" database it came from: d1-{step} refused, nothing changed. Pull again."
        )
    if recorded["key"] != target.key:
        raise Refused(
            f"{what} was pulled from {describe_record(recorded)}, not from {target.describe()}:"
            f" d1-{step} refused, nothing changed. Use the same WRANGLER_CONFIG, WRANGLER_ENV,"
            " D1_DATABASE, D1_REMOTE and D1_PERSIST_TO as the pull, or pull this database"
            " first."
        )
