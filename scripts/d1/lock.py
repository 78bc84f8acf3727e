"""The lock of one D1 database: every d1 step holds it while it runs, so a
pull cannot delete the patch a push is applying, and two syncs of one
database through two names or two files cannot overlap."""

import fcntl
from contextlib import contextmanager
from pathlib import Path

from wrangler import D1Error

EXIT_CANTCREAT = 73
EXIT_LOCKED = 75


class LockError(D1Error):
    """73: the lock file cannot be created; 75: another step holds it."""

    def __init__(self, code, message):
        super().__init__(message)
        self.exit_code = code


def take(path, holder):
    """An open, flock'ed handle on path, or a LockError (73 or 75)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # an existing lock file locks as well read-only (a read-only folder
        # may still be pushed from)
        handle = open(path, "r" if path.exists() else "a")  # noqa: SIM115 (held until the step ends)
    except OSError as error:
        raise LockError(
            EXIT_CANTCREAT,
            f"cannot create the lock file {path} ({error.strerror}): its folder must be"
            " writable by this user. Nothing was run.",
        ) from error
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as error:
        handle.close()
        raise LockError(
            EXIT_LOCKED,
            f"another step on {holder} is still going (lock {path} is held);"
            " not starting. Run again when it has finished.",
        ) from error
    return handle


@contextmanager
def database_lock(target, copy):
    """The lock of one database, whichever file or name reached it, and the
    lock of its local copy (<copy>.lock, the one make migrate, make rollback
    and the weekly job take on a SQLite file), whichever database it holds.
    Always in that order, never waiting: no two steps can deadlock."""
    handles = [take(target.lock_file(), target.describe())]
    try:
        handles.append(take(Path(f"{copy}.lock"), str(copy)))
        yield
    finally:
        for handle in handles:
            handle.close()
