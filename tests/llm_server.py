"""A scripted OpenAI-compatible server on 127.0.0.1, for tests and benchmarks.

It is a real HTTP/1.1 server (standard library only, one daemon thread per connection) that the
real `openai` client talks to, so tests exercise the whole client stack: JSON bodies, headers,
status codes, retries, timeouts and keep-alive. It speaks three routes:

    POST /v1/chat/completions   reply in `choices[0].message.content`
    POST /v1/completions        reply in `choices[0].text`
    GET  /v1/models             "scripted-model" plus every model name seen since reset()

Tests script it like a mock model. Start one server for the session and `reset()` it per test:

    server = ScriptedLLMServer()              # every reply is "ok" until told otherwise
    server.start()                            # or `with ScriptedLLMServer() as server:`
    server.script("judge", ["Verdict: yes"])  # queued replies for requests whose
                                              # X-Augmentoolkit-Step header is "judge"
    server.set_responder(lambda request: "text for " + str(request.step))  # everything else
    server.inject("429", count=2, retry_after=0.05)  # the next two requests get a 429
    ... run the code under test against server.base_url ...
    assert server.count("judge") == 1 and server.requests[0].body["model"] == "small"
    server.stop()

Faults (`inject`, or random ones with `set_fault_rates`): "429", "500", "503", "401" (a refused
key), "404" (an unknown model), each an OpenAI-style JSON error; "slow" (wait `delay` seconds,
then answer normally), "drop" (close the socket with no response), "malformed" (200 whose text
is garbage), "badjson" (200 whose body is not JSON).
Faults apply to the two completion routes only and never use up a scripted reply.

It honours `stop` (the reply is cut at the first stop string) and `max_tokens` (the reply is cut
after that many tokens, with finish_reason "length"), and counts tokens as whitespace-separated
words. It does not stream, does not honour `n`, and knows nothing about sampling: the reply is
whatever the script or responder says.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import select
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

STEP_HEADER = "X-Augmentoolkit-Step"
DEFAULT_MODEL = "scripted-model"
FAULTS = frozenset(
    {"429", "500", "503", "slow", "drop", "malformed", "badjson", "echo400", "toolong400"}
    | {"401", "404"}
)
GARBAGE = "@@@ not what you asked for @@@"
BAD_JSON = b'{"id": "cmpl-broken", "choices": [{"text": <<< this is not JSON'
CHAT, COMPLETIONS, MODELS = "/v1/chat/completions", "/v1/completions", "/v1/models"
ROUTES = {("POST", CHAT), ("POST", COMPLETIONS), ("GET", MODELS)}
ERROR_TYPES = {
    "429": (429, "rate_limit_exceeded", "Rate limit reached (scripted fault)."),
    "500": (500, "server_error", "The server had an error (scripted fault)."),
    "503": (503, "service_unavailable", "The server is overloaded (scripted fault)."),
    "401": (401, "invalid_api_key", "Incorrect API key provided (scripted fault)."),
    "404": (404, "model_not_found", "The model does not exist (scripted fault)."),
    # a careless server that quotes the request's headers back, key included
    "echo400": (400, "invalid_request_error", "Bad request; you sent Authorization: {auth}"),
    # the wording OpenAI-compatible servers use for a prompt over the context window
    "toolong400": (
        400,
        "invalid_request_error",
        "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.",
    ),
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it. Header names are lower-case."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    step: str | None


Responder = Callable[[RecordedRequest], str]


def reply_ok(request: RecordedRequest) -> str:
    """The default responder."""
    return "ok"


@dataclass
class Fault:
    """What to do instead of a normal reply."""

    kind: str
    retry_after: float | None = None
    delay: float = 0.0


@dataclass
class Injection:
    fault: Fault
    remaining: int
    step: str | None


@dataclass
class Script:
    """Everything reset() clears. Handlers keep the one they started with, so a request that
    outlives a reset (a sleeping "slow" one) can neither touch nor be counted in the new one."""

    responder: Responder
    requests: list[RecordedRequest] = field(default_factory=list)
    queues: dict[str, deque[str]] = field(default_factory=dict)
    injections: list[Injection] = field(default_factory=list)
    rates: dict[str, float] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    rate_delay: float = 0.0
    rate_retry_after: float | None = None
    latency: float = 0.0
    in_flight: int = 0
    in_flight_max: int = 0
    cancelled: threading.Event = field(default_factory=threading.Event)


class ScriptedLLMServer:
    """Start, script, inspect, reset, stop. All methods are thread-safe."""

    def __init__(self, responder: Responder | None = None, port: int = 0) -> None:
        self._default_responder = responder or reply_ok
        self._port = port  # 0: any free port; after the first start, the port it got
        self._lock = threading.Lock()
        self._script = Script(self._default_responder)
        self._ids = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._httpd is not None:
            raise RuntimeError("ScriptedLLMServer is already running.")
        self._httpd = _HTTPServer(self, self._port)
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="scripted-llm-server",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop at once: wake sleeping replies, close open connections, free the port."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._httpd = self._thread = None
        self._script.cancelled.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        thread.join(timeout=5)

    def restart(self, down_for: float = 0.0) -> None:
        """Crash and come back on the same port: open connections drop, requests arriving
        while it is down are refused, and the script (replies, faults, records) carries on."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            raise RuntimeError("ScriptedLLMServer is not running: call start() first.")
        self._httpd = self._thread = None
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        thread.join(timeout=5)
        time.sleep(down_for)
        self.start()

    def __enter__(self) -> ScriptedLLMServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The URL to give an OpenAI client, e.g. "http://127.0.0.1:54321/v1"."""
        if self._httpd is None:
            raise RuntimeError("ScriptedLLMServer is not running: call start() first.")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    # -- scripting ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget requests, queued replies, faults, latency and the responder (back to the
        constructor's). Replies still sleeping from before are abandoned without an answer."""
        with self._lock:
            old, self._script = self._script, Script(self._default_responder)
        old.cancelled.set()

    def set_responder(self, responder: Responder) -> None:
        """Answer every request that has no queued reply for its step."""
        with self._lock:
            self._script.responder = responder

    def script(self, step: str, replies: list[str]) -> None:
        """Queue replies, used in order by requests whose step header is `step`."""
        with self._lock:
            self._script.queues.setdefault(step, deque()).extend(replies)

    def inject(
        self,
        fault: str,
        count: int = 1,
        *,
        step: str | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
    ) -> None:
        """Give the next `count` requests (for `step`, or any step) `fault` instead of a reply."""
        check_fault(fault)
        if count < 0 or delay < 0:
            raise ValueError("inject(): count and delay must not be negative.")
        injection = Injection(Fault(fault, retry_after, delay), count, step)
        with self._lock:
            self._script.injections.append(injection)

    def set_fault_rates(
        self,
        rates: dict[str, float],
        seed: int = 0,
        delay: float = 0.0,
        retry_after: float | None = None,
    ) -> None:
        """Give each request a random fault with these probabilities, e.g. {"429": 0.1}; a 429
        or 503 drawn carries `retry_after` as its Retry-After header.

        The draws come from one RNG seeded with `seed`, in the order requests arrive, so a
        sequential client sees the same faults every run. Injected faults are used up first.
        """
        for fault, rate in rates.items():
            check_fault(fault)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"set_fault_rates(): rate for {fault!r} must be in [0, 1].")
        if sum(rates.values()) > 1.0:
            raise ValueError("set_fault_rates(): the rates add up to more than 1.")
        with self._lock:
            self._script.rates = dict(rates)
            self._script.rng = random.Random(seed)
            self._script.rate_delay = delay
            self._script.rate_retry_after = retry_after

    def set_latency(self, seconds: float) -> None:
        """Wait this long before every 200 reply (for benchmarks and concurrency tests)."""
        if seconds < 0:
            raise ValueError("set_latency(): seconds must not be negative.")
        with self._lock:
            self._script.latency = seconds

    # -- inspection --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request that reached a route since reset(), faulted ones too."""
        with self._lock:
            return list(self._script.requests)

    @property
    def in_flight_max(self) -> int:
        """The most requests handled at the same moment since reset()."""
        with self._lock:
            return self._script.in_flight_max

    def count(self, step: str | None = None) -> int:
        """How many requests were recorded, for one step or (step=None) in all."""
        requests = self.requests
        if step is None:
            return len(requests)
        return sum(1 for request in requests if request.step == step)

    # -- used by the handler -----------------------------------------------------------------

    def begin(self, request: RecordedRequest) -> Script:
        with self._lock:
            script = self._script
            script.requests.append(request)
            script.in_flight += 1
            script.in_flight_max = max(script.in_flight_max, script.in_flight)
            return script

    def end(self, script: Script) -> None:
        with self._lock:
            script.in_flight -= 1

    def next_fault(self, script: Script, step: str | None) -> Fault | None:
        with self._lock:
            for injection in script.injections:
                if injection.remaining > 0 and injection.step in (None, step):
                    injection.remaining -= 1
                    return injection.fault
            return draw_fault(script)

    def reply_text(self, script: Script, request: RecordedRequest) -> str:
        with self._lock:
            queue = script.queues.get(request.step or "")
            if request.step is not None and queue:
                return queue.popleft()
            responder = script.responder
        text = responder(request)
        if not isinstance(text, str):
            raise TypeError(f"the responder returned {type(text).__name__}, not str")
        return text

    def next_id(self) -> int:
        return next(self._ids)


def check_fault(fault: str) -> None:
    if fault not in FAULTS:
        raise ValueError(f"Unknown fault {fault!r}; use one of {sorted(FAULTS)}.")


def draw_fault(script: Script) -> Fault | None:
    """One draw from the fault rates (call with the lock held)."""
    if not script.rates:
        return None
    point, total = script.rng.random(), 0.0
    for kind, rate in script.rates.items():
        total += rate
        if point < total:
            hint = script.rate_retry_after if kind in ("429", "503") else None
            return Fault(kind, hint, script.rate_delay if kind == "slow" else 0.0)
    return None


def apply_stop(text: str, stop: object) -> str:
    """Cut at the first stop string, like a real server. Example: ("a STOP b", "STOP") -> "a "."""
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    cuts = [text.find(s) for s in stops if isinstance(s, str) and s and s in text]
    return text[: min(cuts)] if cuts else text


def words(value: object) -> int:
    """Tokens, counted as words. Example: "two words" -> 2; [{"text": "a b"}] -> 2."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(words(item) for item in value)
    if isinstance(value, dict):
        return words(value.get("content", value.get("text", "")))
    return 0


def apply_max_tokens(text: str, max_tokens: object) -> tuple[str, str]:
    """The reply and its finish_reason once cut to max_tokens words, like a real server at its
    limit. Example: ("a b c", 2) -> ("a b", "length"); ("a b", 5) -> ("a b", "stop")."""
    if not isinstance(max_tokens, int) or max_tokens <= 0:
        return text, "stop"
    words = list(re.finditer(r"\S+", text))
    if len(words) <= max_tokens:
        return text, "stop"
    return text[: words[max_tokens - 1].end()], "length"


def completion_body(
    path: str, body: dict[str, Any], text: str, number: int, finish: str = "stop"
) -> dict[str, Any]:
    prompt = words(body.get("messages" if path == CHAT else "prompt"))
    reply = words(text)
    common = {
        "created": int(time.time()),
        "model": body.get("model", DEFAULT_MODEL),
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": reply,
            "total_tokens": prompt + reply,
        },
    }
    if path == CHAT:
        message = {"role": "assistant", "content": text}
        choice = {"index": 0, "message": message, "finish_reason": finish}
        return {
            "id": f"chatcmpl-{number}",
            "object": "chat.completion",
            "choices": [choice],
        } | common
    choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
    return {"id": f"cmpl-{number}", "object": "text_completion", "choices": [choice]} | common


def error_body(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class _HTTPServer(ThreadingHTTPServer):
    """Binds a free port on 127.0.0.1 and remembers open connections so stop() can close them."""

    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops bursts of new connections

    def __init__(self, owner: ScriptedLLMServer, port: int = 0) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def close_connections(self) -> None:
        with self.connections_lock:
            for connection in self.connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet about clients that hang up; report anything else."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't wait 40 ms
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no request log on stderr."""

    def do_GET(self) -> None:
        self.route()

    def do_POST(self) -> None:
        self.route()

    def route(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if (self.command, self.path) not in ROUTES:
            message = f"No route {self.command} {self.path}; the scripted server serves {MODELS}, "
            message += f"{CHAT} and {COMPLETIONS}."
            return self.send_json(404, error_body(message, "invalid_request_error", "not_found"))
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            message = "The body is not a JSON object."
            return self.send_json(400, error_body(message, "invalid_request_error"))
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = RecordedRequest(self.path, body, headers, headers.get(STEP_HEADER.lower()))
        owner = self.server.owner
        script = owner.begin(request)
        try:
            self.answer(script, request)
        finally:
            owner.end(script)

    def answer(self, script: Script, request: RecordedRequest) -> None:
        owner = self.server.owner
        if request.path == MODELS:
            return self.send_json(200, models_body(script))
        if request.body.get("stream"):
            message = "The scripted server does not stream; send stream=false."
            return self.send_json(400, error_body(message, "invalid_request_error"))
        fault = owner.next_fault(script, request.step)
        kind = fault.kind if fault else None
        if fault is not None and kind in ERROR_TYPES:
            # inject(..., delay=) holds an error back, so a burst can be in flight all at once
            if fault.delay and not self.pause(script, fault.delay):
                return self.drop()
            return self.send_error_fault(fault)
        if kind == "drop":
            return self.drop()
        if kind == "badjson":
            return self.send_bytes(200, BAD_JSON)
        delay = script.latency + (fault.delay if fault and kind == "slow" else 0.0)
        if delay and not self.pause(script, delay):
            return self.drop()  # nobody wants the answer any more
        self.send_reply(script, request, GARBAGE if kind == "malformed" else None)

    def pause(self, script: Script, seconds: float) -> bool:
        """Sleep; False as soon as the server stops or resets, or the client hangs up (a client
        that timed out must not use up a scripted reply, nor count as in flight)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if script.cancelled.wait(min(left, 0.02)) or self.client_gone():
                return False
        return True

    def client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and not self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return True

    def send_reply(self, script: Script, request: RecordedRequest, text: str | None) -> None:
        owner = self.server.owner
        if text is None:
            try:
                text = owner.reply_text(script, request)
            except Exception as error:  # a bug in a test's responder: say so, don't retry
                message = f"The scripted responder raised {error!r}"
                body = error_body(message, "responder_error")
                return self.send_json(500, body, {"x-should-retry": "false"})
        text = apply_stop(text, request.body.get("stop"))
        text, finish = apply_max_tokens(text, request.body.get("max_tokens"))
        body = completion_body(request.path, request.body, text, owner.next_id(), finish)
        self.send_json(200, body)

    def send_error_fault(self, fault: Fault) -> None:
        status, kind, message = ERROR_TYPES[fault.kind]
        message = message.format(auth=self.headers.get("Authorization", ""))
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        self.send_json(status, error_body(message, kind, kind), headers)

    def drop(self) -> None:
        """Close the connection without a byte of response."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def send_json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(body).encode("utf-8"), headers)

    def send_bytes(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def models_body(script: Script) -> dict[str, Any]:
    seen = {
        str(r.body["model"]) for r in list(script.requests) if isinstance(r.body.get("model"), str)
    }
    names = [DEFAULT_MODEL, *sorted(seen - {DEFAULT_MODEL})]
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "scripted"} for n in names]
    return {"object": "list", "data": data}
