"""The lock of one D1 database: every d1 step holds it while it runs, so a
pull cannot delete the patch a push is applying, and two syncs of one
database through two names or two files cannot overlap."""

import fcntl
from contextlib import contextmanager

from wrangler import D1Error

EXIT_CANTCREAT = 73
EXIT_LOCKED = 75


class LockError(D1Error):
    """73: the lock file cannot be created; 75: another step holds it."""

    def __init__(self, code, message):
        super().__init__(message)
        self.exit_code = code


@contextmanager
def database_lock(target):
    """The lock of one database, whichever file or name reached it."""
    path = target.lock_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")  # noqa: SIM115 (held until the step ends)
    except OSError as error:
        raise LockError(
            EXIT_CANTCREAT,
            f"cannot create the lock file {path} ({error.strerror}): the folder must be"
            " writable by this user. Nothing was run.",
        ) from error
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as error:
        handle.close()
        raise LockError(
            EXIT_LOCKED,
            f"another d1 step on {target.describe()} is still going (lock {path} is held);"
            " not starting. Run again when it has finished.",
        ) from error
    try:
        yield
    finally:
        handle.close()
