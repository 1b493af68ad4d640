"""`--check` looks before you pay: one tiny request per endpoint and model name, one with a
grammar, a line per endpoint (answers and latency, or why not; what it does with the grammar),
exit 1 when a model does not answer; `--offline` sends nothing; the key never shows."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import processing
from augmentoolkit import cli
from augmentoolkit.probe import GRAMMAR, GRAMMAR_REPLY, GRAMMAR_STEP
from tests.conftest import ConfigFactory
from tests.llm_server import RecordedRequest, ScriptedLLMServer
from tests.test_cli import AUGMENTOOLKIT

DEAD = "http://127.0.0.1:9/v1"  # the discard port: nothing listens, the connection is refused


def check(config_path: Path, *extra: str) -> int:
    return cli.main(["check", "--config", str(config_path), *extra])


def test_each_model_is_asked_once_and_the_grammar_once(
    server: ScriptedLLMServer, make_config: ConfigFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(API={"BASE_URL": server.base_url})
    assert check(config.source) == 0
    out = capsys.readouterr().out
    assert "config and prompts are valid" in out  # the offline check comes first
    assert f"  {server.base_url}\n" in out
    assert "    small-model: answers (" in out and "    large-model: answers (" in out
    assert "grammar field: ignored (the reply did not follow it" in out
    asked = [(r.step, r.body["model"]) for r in server.requests]
    assert asked == [
        ("check_answer", "small-model"),
        ("check_answer", "large-model"),
        (GRAMMAR_STEP, "small-model"),
    ]
    assert all(r.body["max_tokens"] <= 8 for r in server.requests)
    assert server.requests[-1].body["grammar"] == GRAMMAR.grammar
    assert "grammar" not in server.requests[0].body
    assert not config.PATH.OUTPUT.exists()  # --check touches no output folder


def test_one_model_name_is_asked_once(
    server: ScriptedLLMServer, make_config: ConfigFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(
        API={"BASE_URL": server.base_url, "LARGE_LOGICAL_MODEL": "small-model"},
        SYSTEM={"COMPLETION_MODE": True},
    )
    assert check(config.source) == 0
    assert server.count("check_answer") == 1
    assert {r.path for r in server.requests} == {"/v1/completions"}


def test_a_large_model_on_servers_of_its_own_is_asked_there_with_its_key(
    server: ScriptedLLMServer, make_config: ConfigFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    with ScriptedLLMServer() as large:
        config = make_config(
            API={
                "BASE_URL": server.base_url,
                "API_KEY": "sk-small-key",
                "LARGE_BASE_URL": large.base_url,
                "LARGE_API_KEY": "sk-large-key",
            }
        )
        assert check(config.source) == 0
        asked = {(r.step, r.body["model"], r.headers["authorization"]) for r in large.requests}
        large_url = large.base_url
    out = capsys.readouterr().out
    assert f"  {large_url}\n    large-model: answers (" in out
    assert {r.body["model"] for r in server.requests} == {"small-model"}
    assert asked == {
        ("check_answer", "large-model", "Bearer sk-large-key"),
        (GRAMMAR_STEP, "large-model", "Bearer sk-large-key"),
    }
    assert "sk-" not in out


def honours_grammar(request: RecordedRequest) -> str:
    return GRAMMAR_REPLY if "grammar" in request.body else "Hello there, friend."


def test_a_server_that_honours_the_grammar(
    server: ScriptedLLMServer, make_config: ConfigFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    server.set_responder(honours_grammar)
    config = make_config(API={"BASE_URL": server.base_url, "GRAMMARS": "always"})
    assert check(config.source) == 0
    assert "grammar field: honoured (API.GRAMMARS sends it here)" in capsys.readouterr().out


def test_grammars_sent_to_a_server_that_ignores_them_fail_the_check(
    server: ScriptedLLMServer, make_config: ConfigFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(API={"BASE_URL": server.base_url, "GRAMMARS": "always"})
    assert check(config.source) == 1
    captured = capsys.readouterr()
    assert "grammar field: ignored" in captured.out
    assert captured.err.startswith("error: ") and "does not honour them" in captured.err
    assert "GRAMMARS: auto or never" in captured.err


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("404", "no answer: the server answered 404 for model 'small-model'"),
        ("401", "no answer: the server refused the API key (401)"),
    ],
)
def test_a_model_that_does_not_answer_says_why_and_exits_1(
    server: ScriptedLLMServer,
    make_config: ConfigFactory,
    capsys: pytest.CaptureFixture[str],
    fault: str,
    said: str,
) -> None:
    server.inject(fault, count=1)
    config = make_config(API={"BASE_URL": server.base_url})
    assert check(config.source) == 1
    captured = capsys.readouterr()
    assert f"    small-model: {said}" in captured.out
    assert "    large-model: answers (" in captured.out
    assert "grammar field: not tried (the model did not answer)" in captured.out
    assert captured.err.count("\n") == 1 and "a model did not answer" in captured.err
    assert server.count() == 2  # no retries, no grammar request


def test_a_dead_endpoint_among_live_ones_gets_its_own_line(
    server: ScriptedLLMServer, make_config: ConfigFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(API={"BASE_URL": [server.base_url, DEAD]})
    assert check(config.source) == 1
    captured = capsys.readouterr()
    live, dead = captured.out.split(f"  {DEAD}\n")
    assert "small-model: answers (" in live.split(server.base_url)[1]
    assert "small-model: no answer: connection failed" in dead
    assert "is a server listening at this URL?" in dead
    assert f"error: {DEAD}: a model did not answer" in captured.err


def test_offline_sends_nothing(
    server: ScriptedLLMServer, make_config: ConfigFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(API={"BASE_URL": DEAD})
    assert check(config.source, "--offline") == 0
    assert processing.main(["--config", str(config.source), "--check", "--offline"]) == 0
    assert "endpoints" not in capsys.readouterr().out
    with pytest.raises(SystemExit) as stopped:  # --offline means nothing without --check
        processing.main(["--config", str(config.source), "--offline"])
    assert stopped.value.code == 2


def test_a_bad_prompt_is_exit_2_before_any_request(
    server: ScriptedLLMServer, make_config: ConfigFactory, tmp_path: Path
) -> None:
    overrides = tmp_path / "overrides"
    overrides.mkdir()
    (overrides / "judge_chunk.txt").write_text("no marker here\n", encoding="utf-8")
    config = make_config(PATH={"PROMPTS": str(overrides)}, API={"BASE_URL": server.base_url})
    assert check(config.source) == 2
    assert server.count() == 0


def test_the_embedded_model_is_not_started_unless_asked(
    make_config: ConfigFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(API={"BASE_URL": "embedded"})
    assert check(config.source) == 0
    out = capsys.readouterr().out
    assert "embedded: started by the run itself" in out and "--probe-embedded" in out


def test_the_key_is_sent_but_never_shown(
    server: ScriptedLLMServer, make_config: ConfigFactory, tmp_path: Path
) -> None:
    key = "sk-probe-5ecret-value"
    server.inject("echo400", step=GRAMMAR_STEP)  # a server that quotes the key back
    config = make_config(API={"BASE_URL": server.base_url})
    done = subprocess.run(
        [str(AUGMENTOOLKIT), "check", "--config", str(config.source)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "AUGMENTOOLKIT_API_KEY": key},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr  # grammars are off: a refusal is only reported
    assert "grammar field: refused: the server rejected the request (400)" in done.stdout
    assert "Bearer ***" in done.stdout
    assert key not in done.stdout + done.stderr
    assert all(r.headers["authorization"] == f"Bearer {key}" for r in server.requests)


@pytest.mark.real_model
def test_probe_embedded_starts_and_stops_the_small_model(
    make_config: ConfigFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(API={"BASE_URL": "embedded"})
    assert check(config.source, "--probe-embedded") == 0
    out = capsys.readouterr().out
    assert "    small-model: answers (" in out
    assert "grammar field: honoured (API.GRAMMARS sends it here)" in out
