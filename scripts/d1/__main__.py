"""The D1 round trip's steps, as the Makefile's d1-* targets run them.

    python scripts/d1 pull     D1 → data/d1/<database>.db (+ .pulled.db)
    python scripts/d1 patch    after the migration: the patch of what it changed
    python scripts/d1 push     the patch → D1, then read back and summarise
    python scripts/d1 path     print the local file's path (for make)

Settings come from the environment, as make passes them: D1_DATABASE,
WRANGLER_CONFIG, D1_REMOTE=1 for the real database (default: wrangler's
local D1), D1_PERSIST_TO (wrangler's local state folder) and D1_FILE (the
local file; default data/d1/<database>.db). Exit codes: 0 done, 1 failed,
2 a setting is missing or wrong.
"""

import os
import re
import sys
from pathlib import Path

from patch import make_patch
from pull import pull
from push import push
from wrangler import PROJECT_DIR, D1Error, Wrangler


def local_file():
    database = os.environ.get("D1_DATABASE", "")
    if os.environ.get("D1_FILE"):
        return Path(os.environ["D1_FILE"])
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", database or "-") or database.startswith("."):
        raise D1Error(
            f"D1_DATABASE={database!r} is not a D1 database name (letters, digits, - _ .)."
        )
    return PROJECT_DIR / "data" / "d1" / f"{database}.db"


def wrangler():
    return Wrangler(
        os.environ.get("D1_DATABASE", ""),
        os.environ.get("WRANGLER_CONFIG", ""),
        remote=os.environ.get("D1_REMOTE", "").lower() in ("1", "true", "yes"),
        persist_to=os.environ.get("D1_PERSIST_TO") or None,
    )


def main(argv):
    step = argv[1] if len(argv) > 1 else ""
    try:
        if step == "path":
            print(local_file())
        elif step == "pull":
            pull(wrangler(), local_file())
        elif step == "patch":
            make_patch(local_file())
        elif step == "push":
            push(wrangler(), local_file())
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except D1Error as error:
        print(f"d1-{step}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
