"""Words, chunks and prompts in any language: on samples written for these tests (the same
invented town in English, German, Russian, Chinese and Japanese; tests/data/languages.yaml),
grounded answers pass the grounding check and planted ones fail it, a reworded question is a
repeat and a different one is not, chunks stay within CHUNK_SIZE (against real token counts of
the embedded model's tokenizer), English chunks are what they always were, and the prompts ask
for the source text's language only when it is not English."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from augmentoolkit.config import Secret
from augmentoolkit.context import build_context, shaping_settings
from augmentoolkit.control_flow_functions.chunking import (
    InputDocument,
    chunk_documents,
    count_tokens,
    parse_source_info,
    read_documents,
    split_sentences,
)
from augmentoolkit.control_flow_functions.grounding import (
    Signature,
    grounding_problem,
    is_repeat,
    question_signature,
)
from augmentoolkit.control_flow_functions.questions import GENERATE_QUESTIONS, make_pair
from augmentoolkit.control_flow_functions.tokens import ENGLISH, OTHER, rule_for
from augmentoolkit.control_flow_functions.verification import coverage
from augmentoolkit.control_flow_functions.words import content_words, guess_language
from augmentoolkit.generation_functions.local_model import EmbeddedServer
from augmentoolkit.generation_functions.openai_backend import OpenAIBackend
from augmentoolkit.generation_functions.output_language import language_note
from augmentoolkit.records import Chunk, SourceInfo
from tests.conftest import REPO, SAMPLE_DIR, ConfigFactory
from tests.language_samples import (
    Sample,
    load_samples,
    paragraphs_with_real_counts,
    token_texts,
)

SAMPLES = load_samples()
CODES = list(SAMPLES)  # en, de, ru, zh, ja
SIZES = (50, 100, 200, 400)


def chunk_of(sample: Sample, index: int) -> Chunk:
    text = sample.paragraphs[index]
    return Chunk(f"{sample.code}{index}", SourceInfo("t.txt", "t"), index, text, 0)


def document(code: str, text: str) -> InputDocument:
    path = Path(f"{code}.txt")
    return InputDocument(path, parse_source_info(path), text)


# --------------------------------------------------------------------------- grounding, repeats


@pytest.mark.parametrize("code", CODES)
def test_each_paragraph_is_taken_for_its_language(code: str) -> None:
    assert {guess_language(p) for p in SAMPLES[code].paragraphs} == {code}


@pytest.mark.parametrize("code", CODES)
def test_grounded_answers_pass(code: str) -> None:
    sample = SAMPLES[code]
    for fact in sample.facts:
        chunk = sample.paragraphs[fact.paragraph]
        assert grounding_problem(fact.question, fact.answer, chunk, 0.5) is None, fact


@pytest.mark.parametrize("code", CODES)
def test_planted_answers_fail_and_name_their_strange_words(code: str) -> None:
    sample = SAMPLES[code]
    for fact in sample.facts:
        chunk = sample.paragraphs[fact.paragraph]
        problem = grounding_problem(fact.question, fact.planted, chunk, 0.5)
        assert problem is not None and "answer's words are mostly not in the text" in problem


@pytest.mark.parametrize("code", CODES)
def test_a_reworded_question_is_a_repeat_and_a_different_one_is_not(code: str) -> None:
    sample = SAMPLES[code]
    chunk = chunk_of(sample, 3)
    asked: set[Signature] = set()
    first, second = (make_pair(chunk, q, f"answer {n}", f"q{n}") for n, q in enumerate(sample.same))
    assert not is_repeat(first, asked) and is_repeat(second, asked)
    one, other = sample.different
    assert question_signature(one, code) != question_signature(other, code)


@pytest.mark.parametrize("code", CODES)
def test_twenty_different_questions_are_no_repeats(code: str) -> None:
    sample = SAMPLES[code]
    asked: set[Signature] = set()
    pairs = [
        make_pair(chunk_of(sample, f.paragraph), f.question, f.answer, f"q{n}")
        for n, f in enumerate(sample.facts)
    ]
    assert [is_repeat(pair, asked) for pair in pairs] == [False] * len(pairs)


def test_words_of_scripts_without_spaces_are_bigrams_and_function_units_are_left_out() -> None:
    assert content_words("石桥是什么时候建造的？", "zh") == ["石桥", "时候", "候建", "建造"]
    assert content_words("天文台を創設したのは誰ですか？", "ja") == ["天文", "文台", "創設"]
    assert content_words("What's a sourdough starter?") == ["sourdough", "starter"]
    assert content_words("L'eau de la rivière gèle.", "fr") == ["eau", "rivière", "gèle"]


def test_a_pair_in_another_language_than_its_chunk_is_left_to_the_model_checks() -> None:
    german = SAMPLES["de"].paragraphs[0]
    question, answer = "Which river is Velmar on?", "It lies on the east bank of the Lunne."
    assert grounding_problem(question, answer, german, 0.5) is None


def test_answer_turns_are_checked_in_any_script() -> None:
    answer = "七拱石桥建于1612年。"
    assert coverage(answer, "是的，这座七拱石桥建于1612年。") == 1.0
    assert coverage(answer, "它由日本工程师在1998年建成。") < 0.5
    assert coverage("Cut the fuses", "You cut all the fuses.") == 1.0  # English: as before


# --------------------------------------------------------------------------- sentences, chunks


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("东京很大。大阪也很大！你去过吗？", ["东京很大。", "大阪也很大！", "你去过吗？"]),
        ("“我走了。”他说。", ["“我走了。”", "他说。"]),
        ("東京は大きい。 Then English.", ["東京は大きい。", "Then English."]),
        ("中文的换\n行。", ["中文的换行。"]),
        ("शहर प्रसिद्ध है। काम करते हैं।", ["शहर प्रसिद्ध है।", "काम करते हैं।"]),
        ("تشتهر المدينة. يعمل الناس؟ نعم", ["تشتهر المدينة.", "يعمل الناس؟", "نعم"]),
        ("เมืองนี้มีชื่อเสียง ช่างเป่าแก้วทำงาน", ["เมืองนี้มีชื่อเสียง", "ช่างเป่าแก้วทำงาน"]),
        ("Він прийшов. Іван теж.", ["Він прийшов.", "Іван теж."]),
    ],
)
def test_sentences_end_at_each_scripts_own_stops(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("size", SIZES)
def test_chunks_stay_within_chunk_size_and_keep_the_text(code: str, size: int) -> None:
    sample = SAMPLES[code]
    chunks = chunk_documents([document(code, sample.text)], size)
    rule = rule_for(sample.text)
    assert all(0 < chunk.tokens <= size for chunk in chunks)
    assert all(chunk.tokens == count_tokens(chunk.text, rule) for chunk in chunks)
    joined = "".join(chunk.text for chunk in chunks).replace(" ", "")
    assert joined == "".join(sample.paragraphs).replace(" ", "")


@pytest.mark.parametrize(("code", "paragraph", "real"), paragraphs_with_real_counts())
def test_the_estimate_is_not_below_the_real_tokenizer(code: str, paragraph: str, real: int) -> None:
    # The real counts are SmolLM2's (tests/data/languages.yaml); a margin of 10% keeps chunks
    # packed from several sentences within CHUNK_SIZE (bench/languages.py checks them for real).
    ours = count_tokens(paragraph, rule_for(paragraph))
    assert ours >= real * (1.0 if code == "en" else 1.1), (code, ours, real)


def test_a_chinese_text_without_stops_is_cut_within_the_budget() -> None:
    text = "玻璃工匠在老城区工作" * 200  # one "sentence" of 2,000 characters, no stop, no space
    chunks = chunk_documents([document("zh", text)], 100)
    assert len(chunks) > 10 and all(chunk.tokens <= 100 for chunk in chunks)


def test_english_text_keeps_the_english_rule_and_others_get_the_other() -> None:
    assert rule_for(SAMPLES["en"].text) is ENGLISH
    with_accents = (
        SAMPLES["en"].text + " At the café by the bridge, a naïve guest ate crème brûlée."
    )
    assert rule_for(with_accents) is ENGLISH
    assert {rule_for(SAMPLES[code].text) for code in ("de", "ru", "zh", "ja")} == {OTHER}
    assert rule_for("Kasaba mavi camıyla ünlüdür ve eski mahallede çalışıyor.") is OTHER


# Chunk ids of the shipped English sample, taken before any of this (resume relies on them).
ENGLISH_IDS = {
    50: "bc3dacca7f9c3a2d0583486433393bec",
    100: "8da7490b776fe6dc312e74691ca45752",
    400: "091e3c3aa3f99c023772318273bd96e0",
    2000: "ec77a5aa02a2a936ee253a20566d69d2",
}


@pytest.mark.parametrize("size", sorted(ENGLISH_IDS))
def test_the_english_sample_chunks_exactly_as_before(size: int) -> None:
    docs = read_documents(SAMPLE_DIR, lambda line: None)
    ids = "\n".join(chunk.id for chunk in chunk_documents(docs, size))
    assert hashlib.sha256(ids.encode()).hexdigest()[:32] == ENGLISH_IDS[size]


# --------------------------------------------------------------------------- prompts


def test_english_text_adds_nothing_to_the_prompts() -> None:
    values = {"chunk": SAMPLES["en"].paragraphs[0], "source": "", "plan": ""}
    assert language_note("the questions and answers", "", values) == ""
    assert language_note("", "German", values) == ""  # a verdict step writes no dataset text


@pytest.mark.parametrize(("code", "name"), [("de", "German"), ("ru", "Russian"), ("zh", "Chinese")])
def test_other_text_asks_for_its_own_language(code: str, name: str) -> None:
    values = {"qa_list": "\n".join(f"{f.question} {f.answer}" for f in SAMPLES[code].facts[:3])}
    note = language_note("the conversation", "", values)
    assert note.startswith(f"Write the conversation in {name}, the language of the text.")


def test_the_configured_language_wins() -> None:
    values = {"chunk": SAMPLES["de"].paragraphs[0]}
    note = language_note("the questions and answers", "French", values)
    assert note.startswith("Write the questions and answers in French.")


def test_an_english_prompt_renders_byte_for_byte_as_before(tmp_path: Path) -> None:
    from augmentoolkit.generation_functions.prompts import PromptLibrary, render
    from tests.helpers import make_context

    ctx = make_context("http://127.0.0.1:9/v1", REPO / "prompts", tmp_path)
    english = {"chunk": SAMPLES["en"].paragraphs[1], "source": "notes", "plan": "1. Glass."}
    plain = render(
        PromptLibrary(REPO / "prompts", REPO / "prompts").load(GENERATE_QUESTIONS.name),
        english,
        False,
    )
    assert GENERATE_QUESTIONS.render(ctx, english) == plain
    german = {**english, "chunk": SAMPLES["de"].paragraphs[1]}
    messages = GENERATE_QUESTIONS.render(ctx, german).messages
    assert messages is not None and "in German, the language of the text" in messages[-1]["content"]
    ctx.store.close()


def test_the_output_language_setting_reaches_the_steps_and_the_settings(
    make_config: ConfigFactory,
) -> None:
    default = make_config()
    assert default.SYSTEM.OUTPUT_LANGUAGE == ""
    assert "OUTPUT_LANGUAGE" not in shaping_settings(default)  # old folders keep their fingerprint
    german = make_config(SYSTEM={"OUTPUT_LANGUAGE": "German"})
    assert shaping_settings(german)["OUTPUT_LANGUAGE"] == "German"
    ctx = build_context(german, backend=OpenAIBackend("http://127.0.0.1:9/v1", Secret(""), 5.0))
    try:
        values = {"chunk": SAMPLES["en"].paragraphs[0], "source": "", "plan": ""}
        messages = GENERATE_QUESTIONS.render(ctx, values).messages
        assert messages is not None and messages[-1]["content"].endswith(
            'Write the questions and answers in German. Keep the labels of the layout ("Question '
            '1:", "Verdict:", speaker names) as shown.'
        )
    finally:
        ctx.store.close()


# --------------------------------------------------------------------------- the real tokenizer


def real_counter(root: str) -> Callable[[str], int]:
    """Tokens of a text by the server's own tokenizer (llama.cpp's /tokenize)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def count(text: str) -> int:
        body = json.dumps({"content": text}).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        request = urllib.request.Request(root + "/tokenize", data=body, headers=headers)
        with opener.open(request, timeout=30) as response:
            return len(json.load(response)["tokens"])

    return count


@pytest.mark.real_model
def test_every_chunk_is_within_chunk_size_by_the_embedded_models_tokenizer() -> None:
    with EmbeddedServer(context=2048, parallel=1) as server:
        assert server.base_url is not None
        count = real_counter(server.base_url.removesuffix("/v1"))
        for code, text in token_texts().items():
            for size in (50, 200):
                for chunk in chunk_documents([document(code, text)], size):
                    assert count(chunk.text) <= size, (code, size, chunk.text)
