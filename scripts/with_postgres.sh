#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL cluster (Debian's postgresql
# package) on 127.0.0.1, owned by an unprivileged user, then stop and delete it.
# The command sees SYNC_PG_TEST_HOST/PORT/USER/DATABASE, which only the tests
# read (never SYNC_PG_*, which may point at a real server). With
# SYNC_PG_TEST_PORT already set, the server it names is used instead.
#   scripts/with_postgres.sh .venv/bin/pytest -q tests_py
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${SYNC_PG_TEST_PORT:-}" ]; then
    exec "$@"
fi
if ! ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1; then
    echo "PostgreSQL is not installed: apt-get install postgresql (make test does it)." >&2
    exit 1
fi
cluster=$(mktemp -d /tmp/sync-pg.XXXXXX)
chmod 755 "$cluster"
cleanup() {
    "$here/pg_cluster.sh" stop "$cluster/data" || true
    rm -rf "$cluster"
}
trap cleanup EXIT
# A free port can be taken between looking and listening: try a few.
for attempt in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if "$here/pg_cluster.sh" start "$cluster/data" "$port" sync > /dev/null; then
        break
    fi
    [ "$attempt" -lt 5 ] || { echo "could not start PostgreSQL" >&2; exit 1; }
done
export SYNC_PG_TEST_HOST=127.0.0.1 SYNC_PG_TEST_PORT=$port SYNC_PG_TEST_USER=postgres SYNC_PG_TEST_DATABASE=sync
"$@"
