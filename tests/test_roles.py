"""Per-role endpoints: the small model (every step but writing conversations) on one server,
the large model (writing conversations) on another, each with its own key and concurrency
ceiling, while the single-endpoint config keeps working and the calls stay in the store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from augmentoolkit.errors import ConfigError
from augmentoolkit.pipeline import run_pipeline
from tests.conftest import ConfigFactory
from tests.fake_model import reply
from tests.llm_server import ScriptedLLMServer
from tests.test_pipeline import dataset_bytes, sample_config

WRITER = "write_conversation_assistant"


@pytest.fixture
def large_server() -> Iterator[ScriptedLLMServer]:
    server = ScriptedLLMServer(reply)
    server.start()
    yield server
    server.stop()


def test_each_role_goes_to_its_own_server_with_its_key_and_limit(
    server: ScriptedLLMServer,
    large_server: ScriptedLLMServer,
    make_config: ConfigFactory,
    sample_input: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.set_responder(reply)
    reference = sample_config(make_config, server, sample_input, tmp_path / "one")
    asyncio.run(run_pipeline(reference))
    expected, calls = dataset_bytes(reference.PATH.OUTPUT), server.count()
    server.reset()
    server.set_responder(reply)
    large_server.set_latency(0.05)
    monkeypatch.setenv("BIG_MODEL_KEY", "sk-large-role-key")
    config = make_config(
        PATH={"INPUT": str(sample_input), "OUTPUT": str(tmp_path / "two")},
        API={
            "BASE_URL": server.base_url,
            "API_KEY": "sk-small-role-key",
            "LARGE_BASE_URL": large_server.base_url,
            "LARGE_API_KEY_ENV": "BIG_MODEL_KEY",
            "MAX_RETRIES": 6,
        },
        SYSTEM={
            "USE_SUBSET": True,
            "SUBSET_SIZE": 4,
            "CONCURRENCY_LIMIT": 8,
            "LARGE_CONCURRENCY_LIMIT": 1,
        },
    )
    asyncio.run(run_pipeline(config))
    small_steps = {request.step for request in server.requests}
    large_steps = {request.step for request in large_server.requests}
    assert large_steps == {WRITER} and WRITER not in small_steps
    assert server.count() + large_server.count() == calls
    assert {r.headers["authorization"] for r in server.requests} == {"Bearer sk-small-role-key"}
    assert {r.headers["authorization"] for r in large_server.requests} == {
        "Bearer sk-large-role-key"
    }
    assert large_server.in_flight_max == 1
    assert dataset_bytes(config.PATH.OUTPUT) == expected  # the same calls, the same data

    server.reset()
    large_server.reset()
    asyncio.run(run_pipeline(config))  # cache keys carry the model, not the server
    assert server.count() == large_server.count() == 0


def test_a_key_variable_that_is_not_set_is_a_config_error(
    make_config: ConfigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(ConfigError, match="LARGE_API_KEY_ENV: names the environment variable"):
        make_config(
            API={"LARGE_BASE_URL": "http://127.0.0.1:9/v1", "LARGE_API_KEY_ENV": "NOT_SET_ANYWHERE"}
        )


def test_the_embedded_model_cannot_be_split_between_roles(make_config: ConfigFactory) -> None:
    with pytest.raises(ConfigError, match="embedded model serves both roles"):
        make_config(API={"BASE_URL": "embedded", "LARGE_BASE_URL": "http://127.0.0.1:9/v1"})
