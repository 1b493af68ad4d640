"""A real headless Chromium for tests, driven over the DevTools protocol with the standard library
only: `--remote-debugging-pipe` makes the browser read commands from its fd 3 and write replies
and events to its fd 4, each a JSON message ending in a NUL byte. No websocket, no port, no
download; the browser is the system's (Debian's `chromium` package, which scripts/install adds
where apt-get is available).

Everything waits on the protocol's own messages (a reply, `Page.loadEventFired`, a promise the
page resolves), each under a deadline, never on a fixed sleep.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DEADLINE = 60.0  # seconds for any one reply or event: generous, only a hung browser hits it
FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
    "--window-size=1280,900",
    "--remote-debugging-pipe",
)
Message = dict[str, Any]


def find_browser() -> str | None:
    """The Chromium to use: $AUGMENTOOLKIT_CHROMIUM, else the first of BROWSERS on PATH."""
    chosen = os.environ.get("AUGMENTOOLKIT_CHROMIUM")
    if chosen:
        return shutil.which(chosen)
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


class BrowserError(RuntimeError):
    pass


class Browser:
    """One headless Chromium; `page()` opens a tab in it."""

    def __init__(self, executable: str, profile: Path, log: Path) -> None:
        commands_in, self._commands = _high_pipe()
        self._replies, replies_out = _high_pipe()
        # bash, not sh: dash cannot name descriptors above 9
        moves = f"3<&{commands_in} 4>&{replies_out} {commands_in}<&- {replies_out}>&-"
        command = ["bash", "-c", f'exec "$0" "$@" {moves}', executable, *FLAGS]
        with open(log, "wb") as stderr:
            self.process = subprocess.Popen(
                [*command, f"--user-data-dir={profile}", "about:blank"],
                pass_fds=(commands_in, replies_out),
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                env={**os.environ, "HOME": str(profile)},
            )
        os.close(commands_in)
        os.close(replies_out)
        self._buffer = b""
        self._next_id = 0
        self.events: list[Message] = []

    def call(self, method: str, params: Message | None = None, session: str = "") -> Message:
        """Send one command and return its result; BrowserError if it failed."""
        self._next_id += 1
        message: Message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._commands, data) :]
        while True:
            reply = self._read()
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_for(self, method: str, session: str) -> Message:
        """The first event `method` of `session` not yet waited for."""
        index = 0
        while True:
            while index < len(self.events):
                event = self.events[index]
                if event.get("method") == method and event.get("sessionId") == session:
                    return self.events.pop(index)
                index += 1
            self.events.append(self._read())

    def _read(self) -> Message:
        deadline = time.monotonic() + DEADLINE
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                raise BrowserError(f"no message from the browser in {DEADLINE:.0f}s")
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise BrowserError(f"the browser exited (status {self.process.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return dict(json.loads(message))

    def page(self) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        return Page(self, attached["sessionId"])

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except BrowserError:
            pass
        try:
            self.process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._replies)


class Page:
    """One tab: what it logs, what it requests, and commands to it."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def call(self, method: str, params: Message | None = None) -> Message:
        return self.browser.call(method, params, self.session)

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self.call("Page.navigate", {"url": url})
        self.browser.wait_for("Page.loadEventFired", self.session)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (awaited when it is a promise)."""
        params = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        result = self.call("Runtime.evaluate", params)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def type(self, text: str) -> None:
        """Text as typed by a person into the focused element (real input events)."""
        self.call("Input.insertText", {"text": text})

    def errors(self) -> list[str]:
        """Every error the page reported so far: uncaught exceptions, console.error and
        console.assert calls, and the browser's own error log (blocked loads, CSP)."""
        found = []
        for event in self._events():
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(json.dumps(params["exceptionDetails"]))
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                found.append(json.dumps(params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
        return found

    def requests(self) -> list[str]:
        """The URL of every request the page made."""
        sent = [e for e in self._events() if e["method"] == "Network.requestWillBeSent"]
        return [e["params"]["request"]["url"] for e in sent]

    def screenshot(self, path: Path) -> Path:
        """The whole page as a PNG."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        params = {"format": "png", "captureBeyondViewport": True, "clip": clip}
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", params)["data"]))
        return path

    def _events(self) -> list[Message]:
        return [e for e in self.browser.events if e.get("sessionId") == self.session]


def _high_pipe() -> tuple[int, int]:
    """A pipe whose ends are above 9 and close on exec, so the child sees only what bash moves
    to 3 and 4 (an end that happened to be 3 or 4 would be overwritten by the other move)."""
    ends = os.pipe()
    high = tuple(fcntl.fcntl(end, fcntl.F_DUPFD_CLOEXEC, 10) for end in ends)
    for end in ends:
        os.close(end)
    return high[0], high[1]
