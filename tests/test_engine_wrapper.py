"""EngineWrapper against the scripted server: both modes, usage, stops, the concurrency limit,
recovery from every injected fault, bounded retries, and the aphrodite error paths."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from augmentoolkit.errors import ConfigError, EngineError, EngineUnavailable
from augmentoolkit.generation_functions.aphrodite_backend import (
    AphroditeBackend,
    aphrodite_engine_args,
)
from augmentoolkit.generation_functions.engine_wrapper import (
    RetryPolicy,
    Sampling,
)
from augmentoolkit.generation_functions.prompts import RenderedPrompt
from augmentoolkit.pipeline import run_pipeline
from tests.conftest import REPO, ConfigFactory
from tests.helpers import make_engine
from tests.llm_server import ScriptedLLMServer

CHAT = RenderedPrompt(messages=({"role": "user", "content": "Say hi"},), text=None)
TEXT = RenderedPrompt(messages=None, text="### Instruction:\nSay hi\n\n### Response:\n")


async def call_once(
    server: ScriptedLLMServer, prompt: RenderedPrompt, **engine_args: object
) -> str:
    engine = make_engine(server.base_url, **engine_args)  # type: ignore[arg-type]
    try:
        done = await engine.generate(prompt, "small-model", Sampling(), "greet")
        return done.text
    finally:
        await engine.close()


def test_chat_and_completion_modes_and_usage(server: ScriptedLLMServer) -> None:
    server.script("greet", ["hello from chat", "hello from completion"])

    async def both() -> tuple[str, str, dict[str, int]]:
        engine = make_engine(server.base_url)
        chat = await engine.generate(CHAT, "small-model", Sampling(), "greet")
        text = await engine.generate(TEXT, "large-model", Sampling(), "greet")
        usage = engine.usage
        await engine.close()
        counts = {m: u.prompt_tokens + u.completion_tokens for m, u in usage.items()}
        return chat.text, text.text, counts

    chat, text, counts = asyncio.run(both())
    assert (chat, text) == ("hello from chat", "hello from completion")
    assert [r.path for r in server.requests] == ["/v1/chat/completions", "/v1/completions"]
    assert server.requests[0].body["messages"] == [{"role": "user", "content": "Say hi"}]
    assert server.requests[1].body["prompt"] == TEXT.text
    assert server.requests[0].step == "greet"
    assert counts["small-model"] > 0 and counts["large-model"] > 0


def test_stop_false_sends_no_stop(server: ScriptedLLMServer) -> None:
    server.script("greet", ["a STOP b"])
    engine = make_engine(server.base_url, send_stop=False)

    async def go() -> str:
        try:
            return (await engine.generate(CHAT, "m", Sampling(stop=("STOP",)), "greet")).text
        finally:
            await engine.close()

    assert asyncio.run(go()) == "a STOP b"
    assert "stop" not in server.requests[0].body


def test_at_most_four_stops_sent_rest_applied_locally(server: ScriptedLLMServer) -> None:
    server.script("greet", ["one two SIXTH three"])
    stops = ("S1", "S2", "S3", "S4", "S5", "SIXTH")

    async def go() -> str:
        engine = make_engine(server.base_url)
        try:
            return (await engine.generate(CHAT, "m", Sampling(stop=stops), "greet")).text
        finally:
            await engine.close()

    assert asyncio.run(go()) == "one two "
    assert server.requests[0].body["stop"] == ["S1", "S2", "S3", "S4"]


def test_concurrency_never_above_limit(server: ScriptedLLMServer) -> None:
    server.set_latency(0.05)

    async def many() -> None:
        engine = make_engine(server.base_url, concurrency=3)
        await asyncio.gather(*(engine.generate(CHAT, "m", Sampling(), "greet") for _ in range(15)))
        await engine.close()

    asyncio.run(many())
    assert server.count() == 15
    assert server.in_flight_max == 3


@pytest.mark.parametrize(
    ("fault", "options"),
    [
        ("429", {"retry_after": 0.05}),
        ("500", {}),
        ("503", {}),
        ("drop", {}),
        ("slow", {"delay": 2.0}),
        ("badjson", {}),
    ],
)
def test_recovers_from_each_fault(server: ScriptedLLMServer, fault: str, options: dict) -> None:
    server.script("greet", ["recovered"])
    server.inject(fault, count=2, **options)
    assert asyncio.run(call_once(server, CHAT, timeout=0.5)) == "recovered"
    assert server.count() == 3


def test_retry_after_is_honoured() -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    policy = RetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.05, sleep=record)
    assert policy.delay(0, 2.0) >= 2.0
    assert 0.005 <= policy.delay(0, None) <= 0.01
    assert policy.delay(10, None) <= 0.05


def test_retries_are_bounded(server: ScriptedLLMServer) -> None:
    server.inject("500", count=10)
    with pytest.raises(EngineError, match="gave up after 3 tries"):
        asyncio.run(call_once(server, CHAT, max_retries=2))
    assert server.count() == 3


def test_wrong_route_stops_the_run_with_a_fix(server: ScriptedLLMServer) -> None:
    async def go() -> None:
        engine = make_engine(server.base_url.removesuffix("/v1") + "/wrong")
        try:
            await engine.generate(CHAT, "m", Sampling(), "greet")
        finally:
            await engine.close()

    with pytest.raises(EngineUnavailable, match="404"):
        asyncio.run(go())


def test_key_is_sent_but_never_logged(
    server: ScriptedLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    key = "sk-test-5ecret-value"
    server.inject("500", count=1)
    with caplog.at_level(logging.DEBUG):
        asyncio.run(call_once(server, CHAT, key=key))
    assert server.requests[-1].headers.get("authorization") == f"Bearer {key}"
    assert key not in caplog.text
    assert "retry" in caplog.text  # the retry was logged, without the key


def test_aphrodite_argument_mapping() -> None:
    assert aphrodite_engine_args("org/m", "", 12000, "float16") == {
        "model": "org/m",
        "quantization": None,
        "max_model_len": 12000,
        "dtype": "float16",
        "disable_log_requests": True,
    }
    assert aphrodite_engine_args("org/m", "gptq", 4096, "bfloat16")["quantization"] == "gptq"


def test_aphrodite_missing_package_gives_a_fix() -> None:
    # This machine has no aphrodite-engine and no CUDA GPU; the real engine is untested here.
    with pytest.raises(EngineError, match="MODE aphrodite needs"):
        AphroditeBackend(aphrodite_engine_args("org/m", "", 12000, "float16"))


def test_dead_server_stops_early_with_one_message() -> None:
    async def go() -> list[object]:
        engine = make_engine("http://127.0.0.1:9/v1", max_retries=1, timeout=1.0)
        try:
            calls = (engine.generate(CHAT, "m", Sampling(), "s") for _ in range(40))
            return list(await asyncio.gather(*calls, return_exceptions=True))
        finally:
            await engine.close()

    results = asyncio.run(go())
    stops = [r for r in results if isinstance(r, EngineUnavailable)]
    assert len(stops) >= 30  # once stopped, later calls fail at once instead of retrying
    assert all(str(stop).startswith("stopping early: ") for stop in stops)


def test_dead_server_stops_the_pipeline(make_config: ConfigFactory, sample_input: Path) -> None:
    config = make_config(
        PATH={"INPUT": str(sample_input)},
        API={"BASE_URL": "http://127.0.0.1:9/v1", "MAX_RETRIES": 1},
    )
    started = time.monotonic()
    with pytest.raises(EngineUnavailable, match="requests in a row failed"):
        asyncio.run(run_pipeline(config))
    assert time.monotonic() - started < 20


def test_a_server_that_echoes_the_key_in_its_error_never_gets_it_printed(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, tmp_path: Path
) -> None:
    key = "sk-echoed-5ecret-value"
    server.inject("echo400", count=100)
    config = make_config(
        PATH={"INPUT": str(sample_input), "OUTPUT": str(tmp_path / "out")},
        API={"BASE_URL": server.base_url, "API_KEY": key, "MAX_RETRIES": 0},
        SYSTEM={"USE_SUBSET": True, "SUBSET_SIZE": 1},
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, str(REPO / "processing.py"), "--config", str(config.source)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert server.requests[0].headers.get("authorization") == f"Bearer {key}"
    assert run.returncode == 1 and "rejected the request (400)" in run.stderr
    assert "Authorization: Bearer ***" in run.stderr
    everything = run.stdout + run.stderr
    outputs = (tmp_path / "out").rglob("*")
    everything += "".join(p.read_text(errors="replace") for p in outputs if p.is_file())
    assert key not in everything


def test_a_key_of_the_wrong_type_is_not_shown_in_the_config_error(
    make_config: ConfigFactory,
) -> None:
    with pytest.raises(ConfigError) as raised:
        make_config(API={"API_KEY": ["sk-listed-5ecret"]})
    assert "API.API_KEY: must be text" in str(raised.value)
    assert "sk-listed-5ecret" not in str(raised.value)


@pytest.mark.parametrize(
    ("message", "too_long"),
    [
        ("This model's maximum context length is 8192 tokens. However, you requested 9000.", True),
        ("the request exceeds the available context size, try increasing it", True),
        ("Input prompt is too long for this model", True),
        ("exceed_context_size_error", True),
        ("Invalid value for 'temperature'", False),
        ("model 'x' not found", False),
    ],
)
def test_context_overflow_wordings_of_common_servers(message: str, too_long: bool) -> None:
    from augmentoolkit.generation_functions.openai_backend import TOO_LONG

    assert bool(TOO_LONG.search(message)) is too_long


def test_dollars_prices_tokens_per_million_and_nothing_without_a_price() -> None:
    from augmentoolkit.generation_functions.engine_wrapper import dollars

    prices = {"m": (1.0, 2.0)}
    assert dollars(prices, "m", 1_000_000, 0) == 1.0
    assert dollars(prices, "m", 500_000, 250_000) == 1.0
    assert dollars(prices, "other", 10**9, 10**9) == 0.0
