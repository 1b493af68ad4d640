"""Shared setup for the benchmarks in bench/: import paths, a scripted server in its own
process, temp configs for the shipped sample text, and the result line.

Importing this module puts the repository root on sys.path, so `augmentoolkit` and
`tests.llm_server` import when a script is run as `.venv/bin/python bench/NAME.py`. Import it
before anything from the repository.

The scripted server (tests/llm_server.py) runs in a child process (`ServerProcess`), not in a
thread of the benchmark, so its request handling does not compete with the code being measured
for the GIL: on a 2-core machine client and server each get a core. The child is driven over
its stdin with one-line commands (`count [STEP]`, `inflight`, `span`, `latency SECONDS`,
`reset`, `quit`) and answers each with one line; `--listeners N` serves N ports (endpoints)
from the one process; it stops its server when told to or when its stdin closes (the
benchmark died), so no server outlives a run.

Responders the child can use (`--responder`):
    pass    every reply is a short reasoning line and "Verdict: pass" (parses for every check)
    fake    tests.fake_model.reply: every pipeline step answered in its layout
    votes   check_question / check_answer_relevancy / check_answer_accuracy pass with the
            probabilities given by --rates (one seeded RNG, drawn in arrival order); new_question
            gets a fresh, numbered pair each time
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from augmentoolkit.control_flow_functions.validation import CHECKS  # noqa: E402
from tests.conftest import SECRET_ENV  # noqa: E402

SAMPLE_DIR = REPO / "raw_txt_input"
CHECK_STEPS = tuple(check.name for check in CHECKS)
SCRUBBED_ENV = SECRET_ENV  # the same keys and proxies the test suite scrubs


def clean_environment() -> None:
    """No real key or proxy from the shell reaches the scripted server's clients."""
    for name in SCRUBBED_ENV:
        os.environ.pop(name, None)
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"


clean_environment()


# ------------------------------------------------------------------------- scripted server


class ServerProcess:
    """tests.llm_server.ScriptedLLMServer in a child process. Use as a context manager."""

    def __init__(
        self,
        responder: str = "pass",
        latency: float = 0.0,
        rates: tuple[float, float, float] = (1.0, 1.0, 1.0),
        seed: int = 0,
        listeners: int = 1,
    ) -> None:
        self.args = [
            "--listeners",
            str(listeners),
            "--responder",
            responder,
            "--latency",
            str(latency),
            "--rates",
            ",".join(str(r) for r in rates),
            "--seed",
            str(seed),
        ]
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""
        self.base_urls: list[str] = []

    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "serve", *self.args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        self.base_urls = self._read_line().split()
        self.base_url = self.base_urls[0]
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.write("quit\n")
                proc.stdin.close()
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()

    def _read_line(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the scripted server process exited; see its stderr above")
        return line.strip()

    def command(self, line: str) -> str:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._read_line()

    def count(self, step: str | None = None) -> int:
        """Requests the server has seen since the last reset, for one step or all."""
        return int(self.command("count" if step is None else f"count {step}"))

    def counts(self, steps: tuple[str, ...]) -> dict[str, int]:
        return {step: self.count(step) for step in steps}

    def in_flight_max(self) -> int:
        """The most requests the server handled at once since the last reset."""
        return int(self.command("inflight"))

    def span(self) -> float:
        """Seconds from the first to the latest answer since the last reset."""
        return float(self.command("span"))

    def reset(self) -> None:
        """Forget recorded requests (latency and responder are kept)."""
        self.command("reset")

    def set_latency(self, seconds: float) -> None:
        self.command(f"latency {seconds}")


def _make_responder(name: str, rates: list[float], seed: int) -> Any:
    if name == "pass":
        return lambda request: "The item is consistent with the text.\nVerdict: pass"
    if name == "fake":
        from tests.fake_model import reply

        return reply
    if name == "fake-split":
        # The fake model, with the large model slower than the small one, as if the two sat on
        # separate endpoints of different speed: rates[0] and rates[1] are their latencies (s).
        import time

        from tests.fake_model import reply

        def split(request: Any) -> str:
            slow = request.body.get("model") == "large-model"
            time.sleep(rates[1] if slow else rates[0])
            return reply(request)

        return split
    if name == "votes":
        import random

        rng, lock, numbers = random.Random(seed), threading.Lock(), itertools.count(1)
        pass_rate = dict(zip(CHECK_STEPS, rates, strict=True))

        def votes(request: Any) -> str:
            step = request.step or ""
            with lock:
                if step == "new_question":
                    n = next(numbers)
                    return f"Question: Regenerated question number {n}?\nAnswer: Answer {n}."
                draw = rng.random()
            if step in pass_rate:
                verdict = "pass" if draw < pass_rate[step] else "fail"
                return f"Checked against the text.\nVerdict: {verdict}"
            return f"Unscripted step {step!r}."

        return votes
    raise SystemExit(f"unknown responder {name!r}")


def serve(argv: list[str]) -> None:
    """The child process: start a server, print its URL, obey commands from stdin."""
    from tests.llm_server import ScriptedLLMServer

    parser = argparse.ArgumentParser(prog="common.py serve")
    parser.add_argument("--responder", default="pass")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rates", default="1,1,1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--listeners", type=int, default=1, help="ports (endpoints), one process")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]
    answer_with = _make_responder(args.responder, rates, args.seed)
    span = [0.0, 0.0]  # monotonic time of the first and the latest answer since the last reset

    def stamped(request: Any) -> str:
        now = time.monotonic()
        span[0] = span[0] or now
        span[1] = now
        return str(answer_with(request))

    servers = [ScriptedLLMServer(stamped) for _ in range(args.listeners)]
    latency = args.latency
    for server in servers:
        server.start()
        server.set_latency(latency)
    out = sys.stdout
    out.write(" ".join(server.base_url for server in servers) + "\n")
    out.flush()
    try:
        for raw in sys.stdin:
            word, _, rest = raw.strip().partition(" ")
            if word == "quit":
                break
            if word == "count":
                answer = str(sum(server.count(rest or None) for server in servers))
            elif word == "inflight":  # the most one listener (endpoint) held at once
                answer = str(max(server.in_flight_max for server in servers))
            elif word == "span":
                answer = str(span[1] - span[0])
            elif word == "reset":
                for server in servers:
                    server.reset()
                    server.set_latency(latency)
                span[0] = span[1] = 0.0
                answer = "ok"
            elif word == "latency":
                latency = float(rest)
                for server in servers:
                    server.set_latency(latency)
                answer = "ok"
            else:
                answer = f"unknown command {word!r}"
            out.write(answer + "\n")
            out.flush()
    finally:
        for server in servers:
            server.stop()


# ------------------------------------------------------------------------------- configs


@contextlib.contextmanager
def temp_dir(prefix: str = "atk-bench-") -> Iterator[Path]:
    """A temp folder removed afterwards, whatever happens."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_config(
    folder: Path,
    base_url: str,
    *,
    input_dir: Path = SAMPLE_DIR,
    output: Path | None = None,
    name: str = "config.yaml",
    api: dict[str, Any] | None = None,
    **system: Any,
) -> Any:
    """Write a config.yaml for the sample text (or `input_dir`) into `folder`; load it for real.

    Keyword arguments are SYSTEM settings, e.g. USE_SUBSET=True, SUBSET_SIZE=6; `api` overrides
    API settings, e.g. {"MAX_RETRIES": 1}.
    """
    from augmentoolkit.config import load_config

    data = {
        "PATH": {
            "INPUT": str(input_dir),
            "OUTPUT": str(output or folder / "output"),
            "DEFAULT_PROMPTS": str(REPO / "prompts"),
            "PROMPTS": str(REPO / "prompts"),
        },
        "API": {
            "BASE_URL": base_url,
            "LOGICAL_MODEL": "small-model",
            "LARGE_LOGICAL_MODEL": "large-model",
            "MAX_RETRIES": 2,
            **(api or {}),
        },
        "SYSTEM": dict(system),
    }
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_config(path)


@contextlib.contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """Swallow the pipeline's progress lines on stderr (they would bury the table)."""
    if not enabled:
        yield
        return
    with contextlib.redirect_stderr(io.StringIO()):
        yield


# -------------------------------------------------------------------------------- output


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain fixed-width table."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def result(name: str, value: float, target: str, passed: bool) -> str:
    """The last line every benchmark prints."""
    return f"RESULT: {name} = {value:.3f} (target {target}) {'PASS' if passed else 'MISS'}"


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "serve":
    serve(sys.argv[2:])
