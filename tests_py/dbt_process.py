"""The dbt command, run as a process of its own that does not import dbt again.

Importing dbt-core and its adapters takes about 2 of the 3.5 seconds of a small
`dbt run` here, and the suite runs dbt several hundred times. So each test
process keeps one server (this file run as a script) that imported them once
and does nothing else: no thread, no connection, no dbt state. For each run
it forks, and the child takes the test's output files, working directory,
environment and arguments, then runs the project's launcher (.venv/bin/dbt)
as its __main__ and exits as Python would (non-daemon threads joined, exit
handlers run). It is the command an operator types, minus the import: a
process of its own, its exit code and output; nothing of one run is left
for the next.

SYNC_TESTS_DBT_SUBPROCESS=1 runs every dbt as a plain subprocess instead.
"""

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

# What a run imports: dbt-core's command line and tasks, both adapters.
PRELOAD = [
    "dbt.cli.main",
    "dbt.task.build",
    "dbt.task.run",
    "dbt.task.run_operation",
    "dbt.task.test",
    "dbt.adapters.sqlite",
    "dbt.adapters.postgres",
]


def serve():
    """The server: one request (a JSON line) at a time on stdin; answers the
    child's pid, then its exit code, a line each on stdout."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    answers = sys.stdout.buffer
    for line in sys.stdin.buffer:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _become(request)
        answers.write(b"%d\n" % pid)
        answers.flush()
        _, status = os.waitpid(pid, 0)
        answers.write(b"%d\n" % os.waitstatus_to_exitcode(status))
        answers.flush()


def _become(request):
    """In the forked child: the launcher's process, from its file descriptors on."""
    code = 1
    try:
        stdin = os.open(os.devnull, os.O_RDONLY)
        os.dup2(stdin, 0)
        os.close(stdin)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(file, fd)
            os.close(file)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [request["launcher"], *request["args"]]
        code = _run_main(request["launcher"])
    finally:
        os._exit(code)


def _run_main(path):
    import atexit
    import runpy
    import threading
    import traceback

    try:
        runpy.run_path(path, run_name="__main__")
        code = 0
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            code = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    return code


class _Server:
    process = None
    python = None

    def ask(self, python, request, timeout):
        if self.process is None or self.process.poll() is not None or self.python != python:
            self.close()
            self.python = python
            self.process = subprocess.Popen(
                [python, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        self.process.stdin.flush()
        pid = int(self._line(None))
        try:
            return int(self._line(timeout))
        except subprocess.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
            self._line(None)
            raise

    def _line(self, timeout):
        answer = b""
        pipe = self.process.stdout.fileno()
        while not answer.endswith(b"\n"):
            ready, _, _ = select.select([pipe], [], [], timeout)
            if not ready:
                raise subprocess.TimeoutExpired("dbt", timeout)
            chunk = os.read(pipe, 64)
            if not chunk:
                raise RuntimeError("the dbt server (tests_py/dbt_process.py) stopped")
            answer += chunk
        return answer

    def close(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


_server = _Server()


def run(launcher, args, env, cwd, timeout):
    """subprocess.run([launcher, *args], env=env, cwd=cwd, capture_output=True,
    text=True, timeout=timeout), through the server."""
    command = [str(launcher), *args]
    if os.environ.get("SYNC_TESTS_DBT_SUBPROCESS") == "1":
        return subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
    python = str(Path(launcher).parent / "python")
    with tempfile.TemporaryDirectory(prefix="dbt-run-") as folder:
        out_path, err_path = Path(folder) / "stdout", Path(folder) / "stderr"
        request = {
            "launcher": str(launcher),
            "args": [str(arg) for arg in args],
            "env": dict(env),
            "cwd": str(cwd),
            "stdout": str(out_path),
            "stderr": str(err_path),
        }
        code = _server.ask(python, request, timeout)
        return subprocess.CompletedProcess(
            command,
            code,
            out_path.read_text(errors="replace"),
            err_path.read_text(errors="replace"),
        )


if __name__ == "__main__":
    serve()
