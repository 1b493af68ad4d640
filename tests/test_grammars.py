"""Layout grammars: built as intended, part of the cache key, sent only when API.GRAMMARS says so
(checked on the requests the scripted server records), and rejected config combinations.

That each grammar compiles in llama.cpp and yields replies its parser reads is checked against
the real embedded model in test_real_model.py."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from augmentoolkit.config import Secret, load_config
from augmentoolkit.control_flow_functions.judging import JUDGE_CHUNK
from augmentoolkit.control_flow_functions.questions import GENERATE_QUESTIONS, PLAN_QUESTIONS
from augmentoolkit.control_flow_functions.repair import REPAIR_CONTEXT
from augmentoolkit.control_flow_functions.validation import CHECKS, NEW_QUESTION
from augmentoolkit.control_flow_functions.verification import VERIFY_CONVERSATION
from augmentoolkit.errors import ConfigError
from augmentoolkit.generation_functions import grammars
from augmentoolkit.generation_functions.embedded_backend import EMBEDDED_MAX_TOKENS, EmbeddedBackend
from augmentoolkit.generation_functions.engine_wrapper import Sampling
from augmentoolkit.generation_functions.openai_backend import OpenAIBackend
from augmentoolkit.generation_functions.prompts import RenderedPrompt
from augmentoolkit.pipeline import run_pipeline
from tests.conftest import ConfigFactory, write_config
from tests.fake_model import reply
from tests.llm_server import ScriptedLLMServer
from tests.test_pipeline import check_outputs

# The model steps whose grammar is fixed (conversation writing builds its step per plan).
FIXED_STEPS = (
    JUDGE_CHUNK,
    PLAN_QUESTIONS,
    GENERATE_QUESTIONS,
    *CHECKS,
    NEW_QUESTION,
    REPAIR_CONTEXT,
    VERIFY_CONVERSATION,
)
STATIC_STEPS = {step.name: step.grammar for step in FIXED_STEPS}


def test_every_model_step_declares_a_grammar() -> None:
    assert all(grammar.startswith("root ::= ") for grammar in STATIC_STEPS.values())
    assert len(set(STATIC_STEPS.values())) == len(STATIC_STEPS)  # no step borrows another's


def test_verdict_layout_ties_each_finding_to_its_verdict() -> None:
    grammar = grammars.verdict_layout("The answer", ("agrees", "disagrees"), ("pass", "fail"))
    first, second = grammar.splitlines()[0].removeprefix("root ::= ").split(" | ")
    assert first.startswith('"The answer agrees"') and first.endswith('"\\nVerdict: pass"')
    assert second.startswith('"The answer disagrees"') and second.endswith('"\\nVerdict: fail"')


def test_numbered_pairs_allow_one_to_four_pairs_in_order() -> None:
    grammar = grammars.numbered_pairs(3)
    assert grammar.splitlines()[0] == 'root ::= pair1 ("\\n\\n" pair2 ("\\n\\n" pair3)?)?'
    assert 'pair3 ::= "Question 3: " question "\\nAnswer 3: " answer' in grammar
    assert "pair4" not in grammar


def test_conversation_grammar_asks_freely_and_answers_word_for_word() -> None:
    grammar = grammars.conversation('Ann "Bo" Lee', "Dr. C\\D", ["Yes.", 'It is "dry".'])
    root = grammar.splitlines()[0]
    assert root == (
        'root ::= "Ann \\"Bo\\" Lee: " line "\\nDr. C\\\\D: " "Yes." "\\n" '
        '"Ann \\"Bo\\" Lee: " line "\\nDr. C\\\\D: " "It is \\"dry\\"."'
    )


def test_answers_are_one_of_the_chunk_sentences_when_given() -> None:
    sentences = ["Bees dance at dawn.", 'They say "come over here".', "Bees dance at dawn."]
    for grammar in (grammars.numbered_pairs(2, sentences), grammars.new_question(sentences)):
        assert 'answer ::= "Bees dance at dawn." | "They say \\"come over here\\"."\n' in grammar
    assert f"answer ::= {grammars.ANSWER}" in grammars.numbered_pairs(2)  # no sentences: free
    assert '"4."' not in grammars.new_question(["4.", *sentences])  # too short to answer
    assert 'answer ::= "Bees dance."\n' in grammars.repair_context("Bees dance.")


def test_grammar_is_part_of_the_cache_key_only_when_set() -> None:
    plain = Sampling(0.2, 1.0, 100)
    assert plain.fingerprint() == "t=0.2;p=1.0;m=100;s=[]"  # keys of unconstrained runs unchanged
    one = Sampling(0.2, 1.0, 100, grammar=grammars.CHECK_QUESTION).fingerprint()
    other = Sampling(0.2, 1.0, 100, grammar=grammars.JUDGE_CHUNK).fingerprint()
    assert len({plain.fingerprint(), one, other}) == 3


@pytest.mark.parametrize("setting", ["always", "auto", "never"])
def test_grammars_are_sent_only_when_asked(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, setting: str
) -> None:
    server.set_responder(reply)
    config = make_config(
        PATH={"INPUT": str(sample_input)},
        API={"BASE_URL": server.base_url, "GRAMMARS": setting},
        SYSTEM={"USE_SUBSET": True, "SUBSET_SIZE": 2},
    )
    asyncio.run(run_pipeline(config))
    check_outputs(config, sample_input)
    sent = {r.step: r.body.get("grammar") for r in server.requests}
    assert "write_conversation_assistant" in sent and "check_question" in sent
    if setting != "always":  # auto: only for the embedded model, and this is an HTTP server
        assert set(sent.values()) == {None}
        return
    per_item = {"generate_questions", "new_question", "repair_context"}  # answers from the text
    for step, grammar in sent.items():
        if step.startswith("write_conversation"):
            assert isinstance(grammar, str) and '"User: " line "\\nAI Assistant: "' in grammar
        elif step in per_item:
            assert isinstance(grammar, str) and 'answer ::= "' in grammar, step
        else:
            assert grammar == STATIC_STEPS[step], step


def test_bad_grammars_setting_names_the_choices(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    path = write_config(
        tmp_path, {"PATH": {"INPUT": str(tmp_path / "in")}, "API": {"GRAMMARS": "yes"}}
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "API.GRAMMARS: 'yes' is not one of auto, always, never" in str(caught.value)


def test_always_grammars_with_aphrodite_is_refused(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    path = write_config(
        tmp_path,
        {
            "PATH": {"INPUT": str(tmp_path / "in")},
            "API": {"GRAMMARS": "always"},
            "SYSTEM": {"MODE": "aphrodite", "COMPLETION_MODE": True},
            "APHRODITE": {"MODEL": "org/model"},
        },
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "API.GRAMMARS: always" in str(caught.value) and "MODE aphrodite" in str(caught.value)


def test_the_embedded_cap_spares_replies_held_by_a_grammar(server: ScriptedLLMServer) -> None:
    """Without a grammar the embedded model's replies are capped; with one, the step's own limit
    stands (the grammar bounds the reply). The scripted server stands in for the local one."""
    backend = EmbeddedBackend(timeout=5)
    backend._client = OpenAIBackend(server.base_url, Secret(""), 5)  # as if started
    prompt = RenderedPrompt(messages=({"role": "user", "content": "Hi"},), text=None)
    free = Sampling(max_tokens=EMBEDDED_MAX_TOKENS + 400)

    async def ask() -> None:
        try:
            for sampling in (free, replace(free, grammar=grammars.NEW_QUESTION)):
                await backend.complete(prompt, "local-model", sampling, [], "new_question")
        finally:
            await backend.close()

    asyncio.run(ask())
    sent = [request.body["max_tokens"] for request in server.requests]
    assert sent == [EMBEDDED_MAX_TOKENS, EMBEDDED_MAX_TOKENS + 400]
