#!/usr/bin/env bash
# with_lock.sh LOCKFILE COMMAND...: run COMMAND holding LOCKFILE (flock), the
# lock scripts/weekly_sync.sh and scripts/d1 take on the same SQLite file.
# Exit 75 while another run holds it, 73 when it cannot be created; both say so.
set -uo pipefail
lock=$1
shift
if ! reason=$(touch -- "$lock" 2>&1) || ! { exec 9>>"$lock"; } 2> /dev/null; then
  echo "cannot create the lock file $lock (${reason##*: }); nothing was run. Make its folder writable." >&2
  exit 73
fi
if ! flock --nonblock 9; then
  echo "another run on ${lock%.lock} is still going (lock $lock is held); nothing was run. Run again when it has finished." >&2
  exit 75
fi
"$@"
