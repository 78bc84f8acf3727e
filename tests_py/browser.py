"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol,
for the pages a person opens: the lineage site and the run report. Console
messages and uncaught exceptions are kept (`errors`), so a test can say the
page ran clean."""

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import websocket


class Browser:
    """Headless Chromium driven over the DevTools protocol (one page)."""

    # what `errors` reads: uncaught exceptions, console.error, the log's errors
    ERROR_EVENTS = ("Runtime.exceptionThrown", "Runtime.consoleAPICalled", "Log.entryAdded")
    FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    # containers give /dev/shm 64 MB, too little for Chromium
    EXTRA_FLAGS = ["--disable-dev-shm-usage"]

    def __init__(self):
        executable = shutil.which("chromium")
        assert executable, "Chromium is missing: apt-get install chromium (make test does it)"
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        self.process = subprocess.Popen(
            [
                executable,
                *self.FLAGS,
                *self.EXTRA_FLAGS,
                "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}",
                "--window-size=1400,1000",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = Path(self.profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 60
            while not (port_file.exists() and port_file.read_text().strip()):
                assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
                assert self.process.poll() is None, "Chromium exited at start"
                time.sleep(0.1)
            port = port_file.read_text().split()[0]
            targets = json.loads(urlopen_text(f"http://127.0.0.1:{port}/json"))
            page = next(t for t in targets if t["type"] == "page")
            self.socket = websocket.create_connection(
                page["webSocketDebuggerUrl"], suppress_origin=True, timeout=60
            )
        except BaseException:
            self.process.kill()
            self.process.wait(timeout=30)
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("method") in self.ERROR_EVENTS:
                self.events.append(message)
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message["result"]

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def wait_for(self, expression, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for: {expression}")

    def errors(self):
        """The page's uncaught exceptions and error messages so far (after
        Runtime.enable and Log.enable)."""
        found = []
        for event in self.events:
            params = event["params"]
            if event["method"] == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"].get("text", "exception"))
            elif event["method"] == "Runtime.consoleAPICalled" and params["type"] == "error":
                found.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
                )
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
        return found

    def close(self):
        self.socket.close()
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.profile, ignore_errors=True)


def urlopen_text(url):
    import urllib.request

    for _ in range(50):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"no answer from {url}")
