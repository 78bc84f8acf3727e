#!/usr/bin/env bash
# The scheduled weekly migration: `dbt build` for one target (without the
# unit tests, which check the project, not production's data), appended to a
# log file, with the summary and any failure on stdout too. Exits with dbt's code (non-zero when a model or an error-severity
# test fails) and refuses to start while another run on the same database
# still holds its lock (exit 75, "try later"). A lock file it cannot create
# (a read-only folder) is exit 73, and a filter given but blank (USER_ID=,
# ENTITIES= , ) exit 2: neither gets better by waiting. USER_ID and ENTITIES
# (or ENTITY) narrow the run as they do for make migrate.
#   usage: SYNC_DB_PATH=/data/prod.db scripts/weekly_sync.sh prod [log file]
#
# The d1 mode runs the same job on Cloudflare D1 (docs/d1.md): scripts/d1 sync
# pulls, migrates and pushes under the database's lock; DRY_RUN=1 stops after
# the patch is written and says what the push would do. It exits with the
# code of the step that failed (scripts/d1's: 1 failed, 2 refused, 73, 75).
#   usage: D1_DATABASE=... WRANGLER_CONFIG=... [WRANGLER_ENV=...] [D1_REMOTE=1] scripts/weekly_sync.sh d1 [log file]
set -uo pipefail

target=${1:-}
case "$target" in
  dev|staging|prod|d1) ;;
  *) echo "usage: weekly_sync.sh dev|staging|prod|d1 [log file]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.." || exit 2
log=${2:-logs/weekly_sync_${target}.log}

# Everything goes to the log; the terminal (or cron's mail) gets what an
# operator reads: the summary, rejects, the API's rows, warnings and failures.
quiet='(This version of dbt is deprecated| START | PASS | OK hook| OK created|NO-OP|Running with dbt|Registered adapter|Found [0-9]|Concurrency:|^[0-9:]+ *$|^$|^make\[|^\.venv/bin/|^vars=|^file=|^mkdir -p |^ln -sf )'

# run_logged STEP...: one step, into the log and, filtered, to the terminal
run_logged() {
  echo "running: $*" >> "$log"
  DBT_USE_COLORS=False "$@" 2>&1 | tee -a "$log" | { grep --line-buffered -Ev "$quiet" || true; }
  return "${PIPESTATUS[0]}"
}

take_lock() {
  local reason
  if ! reason=$(touch -- "$1" 2>&1) || ! { exec 9>>"$1"; } 2> /dev/null; then
    reason=${reason##*: }
    message="$(date -u '+%Y-%m-%d %H:%M:%S') weekly_sync: cannot create the lock file $1 (${reason:-not writable by $(id -un)}); nothing was run. Make its folder writable by $(id -un); waiting will not help."
    echo "$message" >> "$log" 2> /dev/null
    echo "$message" >&2
    exit 73
  fi
  if ! flock --nonblock 9; then
    message="$(date -u '+%Y-%m-%d %H:%M:%S') weekly_sync: another run on $2 is still going (lock $1 is held); not starting. Wait for it to finish, or check for a stuck dbt process."
    echo "$message" >> "$log"
    echo "$message" >&2
    exit 75
  fi
}

finish() {
  echo "=== $(date -u '+%Y-%m-%d %H:%M:%S') finished: exit code $1 (full log: $log) ===" | tee -a "$log"
  exit "$1"
}

# A filter given but blank would be dropped and widen the run to every row.
vars=$(env -u DRY_RUN .venv/bin/python scripts/dbt_vars.py) || exit 2

if [ "$target" = d1 ]; then
  mkdir -p "$(dirname "$log")"
  echo "=== $(date -u '+%Y-%m-%d %H:%M:%S') weekly sync: D1 database ${D1_DATABASE:-}${WRANGLER_ENV:+ (env $WRANGLER_ENV)} ($([ -n "${D1_REMOTE:-}" ] && echo remote || echo local)) ===" | tee -a "$log"
  run_logged .venv/bin/python scripts/d1 sync
  finish $?
fi

if [ "$target" != dev ] && [ -z "${SYNC_DB_PATH:-}" ]; then
  echo "weekly_sync: SYNC_DB_PATH must name the $target database file." >&2
  exit 2
fi
db=${SYNC_DB_PATH:-data/dev.db}
if [ "$target" != dev ] && [ ! -s "$db" ]; then
  echo "weekly_sync: the $target database $db does not exist or is empty; check SYNC_DB_PATH. Nothing was run." >&2
  exit 2
fi
# dbt would only say "file is not a database", without the path
.venv/bin/python scripts/check_sqlite_files.py "$target" "$db" "${SYNC_WORK_DB_PATH:-$db.dbt-work}" || exit 2
mkdir -p "$(dirname "$log")" "$(dirname "$db")"
take_lock "$db.lock" "$db"

echo "=== $(date -u '+%Y-%m-%d %H:%M:%S') weekly sync: target $target, database $db ===" | tee -a "$log"
command=(.venv/bin/dbt build --target "$target" --exclude-resource-type unit_test --vars "$vars")
echo "running: ${command[*]}" >> "$log"
DBT_USE_COLORS=False "${command[@]}" 2>&1 \
  | tee -a "$log" | { grep --line-buffered -Ev "$quiet" || true; }
status=${PIPESTATUS[0]}
# the page to look at after the run; a report that cannot be written is said,
# and leaves the run's exit code as dbt gave it
echo "running: scripts/run_report.py" >> "$log"
.venv/bin/python scripts/run_report.py --target "$target" --database "$db" \
  --out "${REPORT:-target/run_report.html}" 2>&1 | tee -a "$log"
{
  if [ "$status" -ne 0 ] && tail -n 50 "$log" | grep -q "database is locked"; then
    echo "weekly_sync: $db was locked by another writer for longer than the busy timeout; nothing was migrated. Run again when the other writer is done."
  fi
  echo "=== $(date -u '+%Y-%m-%d %H:%M:%S') finished: exit code $status (full log: $log) ==="
} | tee -a "$log"
exit "$status"
