#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests, from Debian's postgresql package.
#
#   pg_cluster.sh start DIR PORT [DBNAME]   create DIR (initdb) if new, start it, create DBNAME
#   pg_cluster.sh stop DIR                  stop it (DIR is kept; rm -rf it to throw it away)
#   pg_cluster.sh status DIR
#
# The server runs as an unprivileged user: the caller itself, or, when called as
# root, the system user $PG_CLUSTER_USER (default pgtest, created if missing).
# It listens on 127.0.0.1:PORT only (no Unix socket), with trust auth for
# 127.0.0.1, superuser "postgres", UTF8 encoding, C locale.
# Connect with: psql -h 127.0.0.1 -p PORT -U postgres DBNAME (DBNAME default: dbt).
# PG_BIN overrides the server binaries (default: newest /usr/lib/postgresql/NN/bin).
set -euo pipefail

usage() {
    echo "usage: $0 start DIR PORT [DBNAME] | stop DIR | status DIR" >&2
    exit 2
}

pg_bin() {
    if [ -n "${PG_BIN:-}" ]; then
        echo "$PG_BIN"
        return
    fi
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        echo "no PostgreSQL server found: apt-get install postgresql" >&2
        exit 1
    fi
    echo "$bin"
}

# Runs a command as the cluster's owner: the caller, or PG_CLUSTER_USER when root.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$OWNER" -- "$@"
    else
        "$@"
    fi
}

setup_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        OWNER=${PG_CLUSTER_USER:-pgtest}
        if ! id "$OWNER" >/dev/null 2>&1; then
            useradd --system --no-create-home --shell /usr/sbin/nologin "$OWNER"
        fi
    else
        OWNER=$(id -un)
    fi
}

cmd=${1:-}
[ -n "$cmd" ] || usage
[ $# -ge 2 ] || usage
DIR=$(realpath -m "$2")
BIN=$(pg_bin)
setup_owner

case "$cmd" in
    start)
        [ $# -ge 3 ] || usage
        PORT=$3
        DB=${4:-dbt}
        if [ ! -f "$DIR/PG_VERSION" ]; then
            mkdir -p "$DIR"
            if [ "$(id -u)" -eq 0 ]; then
                chown "$OWNER" "$DIR"
            fi
            chmod 700 "$DIR"
            if ! as_owner test -w "$DIR"; then
                echo "$OWNER cannot write $DIR (are all its parent folders searchable by $OWNER?)" >&2
                exit 1
            fi
            if ! out=$(as_owner "$BIN/initdb" -D "$DIR" -U postgres --auth=trust \
                --encoding=UTF8 --locale=C --no-instructions 2>&1); then
                echo "$out" >&2
                exit 1
            fi
            # Only TCP on 127.0.0.1; trust for it (a throwaway test cluster).
            as_owner tee -a "$DIR/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
EOF
            as_owner tee "$DIR/pg_hba.conf" >/dev/null <<EOF
host all all 127.0.0.1/32 trust
EOF
        fi
        if as_owner "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
            echo "already running: $DIR" >&2
        else
            as_owner "$BIN/pg_ctl" -D "$DIR" -o "-p $PORT" -l "$DIR/server.log" -w -t 60 start >/dev/null || {
                tail -n 20 "$DIR/server.log" >&2
                exit 1
            }
        fi
        PORT=$(sed -n 4p "$DIR/postmaster.pid")
        if ! "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -Atqc \
            "select 1 from pg_database where datname = '$DB'" | grep -q 1; then
            "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
        fi
        echo "postgresql://postgres@127.0.0.1:$PORT/$DB"
        ;;
    stop)
        if [ -f "$DIR/postmaster.pid" ]; then
            as_owner "$BIN/pg_ctl" -D "$DIR" -m fast -w stop >/dev/null
        fi
        ;;
    status)
        as_owner "$BIN/pg_ctl" -D "$DIR" status
        ;;
    *)
        usage
        ;;
esac
