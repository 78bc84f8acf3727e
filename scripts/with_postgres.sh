#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL cluster (Debian's postgresql
# package) on 127.0.0.1, owned by an unprivileged user, then stop and delete it.
# The command sees SYNC_PG_HOST/PORT/USER/DATABASE (the profile's postgres
# target). With SYNC_PG_PORT already set, the server it names is used instead.
#   scripts/with_postgres.sh .venv/bin/pytest -q tests_py
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${SYNC_PG_PORT:-}" ]; then
    exec "$@"
fi
if ! ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql > /dev/null
fi
cluster=$(mktemp -d /tmp/sync-pg.XXXXXX)
chmod 755 "$cluster"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
    "$here/pg_cluster.sh" stop "$cluster/data" || true
    rm -rf "$cluster"
}
trap cleanup EXIT
"$here/pg_cluster.sh" start "$cluster/data" "$port" sync > /dev/null
export SYNC_PG_HOST=127.0.0.1 SYNC_PG_PORT=$port SYNC_PG_USER=postgres SYNC_PG_DATABASE=sync
"$@"
