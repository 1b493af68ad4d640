"""How much the embedded model's verdicts mean, with and without layout grammars.

Run: python bench/embedded_verdicts.py [--samples N]

For each verdict step (judging, the three checks, conversation verification) it sends the
shipped prompt for hand-made items whose right verdict is known: good ones (should pass) and
bad ones (should fail: an unanswerable question, an invented answer, a wrong number, a
conversation about something else, a table of contents). Each item is asked --samples times,
once with the step's grammar (as the pipeline sends it to the embedded model) and once without.

Prints per step and mode: replies that parsed, the pass rate on good and on bad items, their
difference (1.0 is a perfect judge, 0.0 a verdict that ignores the item), and the mean
completion tokens and seconds per call. Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from augmentoolkit.config import Secret  # noqa: E402
from augmentoolkit.control_flow_functions.judging import JUDGE_CHUNK  # noqa: E402
from augmentoolkit.control_flow_functions.validation import CHECKS  # noqa: E402
from augmentoolkit.control_flow_functions.verification import VERIFY_CONVERSATION  # noqa: E402
from augmentoolkit.errors import ParseError  # noqa: E402
from augmentoolkit.generation_functions.generation_step import GenerationStep  # noqa: E402
from augmentoolkit.generation_functions.local_model import EmbeddedServer  # noqa: E402
from augmentoolkit.generation_functions.openai_backend import OpenAIBackend  # noqa: E402
from augmentoolkit.generation_functions.prompts import PromptLibrary, render  # noqa: E402

TIDES = (
    "The Moon orbits the Earth once every 27.3 days. Its gravity pulls on the oceans and raises "
    "two bulges of water, one facing the Moon and one on the far side of the Earth. As the Earth "
    "turns, each coast passes through both bulges, so most places see two high tides and two "
    "low tides each day. When the Sun and Moon line up, at new and full moon, their pulls add "
    "together and the tides are strongest; these are called spring tides."
)
CONTENTS = (
    "CONTENTS\n1. The Tides ..... 1\n2. The Moon ..... 9\n3. Spring Tides ..... 17\nIndex ..... 40"
)
GOOD_QA = [
    ("How many high tides do most places see each day?", "Two high tides and two low tides."),
    ("How long does the Moon take to orbit the Earth?", "It orbits the Earth every 27.3 days."),
    ("When are tides strongest?", "At new and full moon, when the Sun and Moon line up."),
]
UNANSWERABLE_QA = [
    ("How many frames should a beekeeper leave in the hive?", "Usually eight to ten frames."),
    ("What is the Moon made of?", "Mostly rock and dust."),
    ("Who first measured the tides?", "The Babylonians, around 300 BC."),
]
WRONG_QA = [
    ("How many high tides do most places see each day?", "Most places see five high tides."),
    ("How long does the Moon take to orbit the Earth?", "It orbits the Earth every 3 days."),
    ("When are tides strongest?", "At half moon, when the Sun and Moon are at right angles."),
]
INVENTED_QA = [
    ("How many high tides do most places see each day?", "Two, and they cause earthquakes."),
    ("How long does the Moon take to orbit the Earth?", "27.3 days, and it is slowly cooling."),
    ("When are tides strongest?", "At full moon, which is why fishing is best then."),
]


def values(question: str = "", answer: str = "", chunk: str = TIDES) -> dict[str, str]:
    return {
        "source": "an untitled document",
        "chunk": chunk,
        "question": question,
        "answer": answer,
    }


def conversation(question: str, reply: str) -> str:
    return f"User: {question}\nAI Assistant: {reply}"


def qa_list(question: str, answer: str) -> str:
    return f"Question 1: {question}\nAnswer 1: {answer}"


def items() -> dict[str, tuple[GenerationStep[Any], list[dict[str, str]], list[dict[str, str]]]]:
    """step name -> (step, good items, bad items)."""
    question, relevancy, accuracy = CHECKS
    verify_good = [
        {"qa_list": qa_list(q, a), "conversation": conversation(q, a)} for q, a in GOOD_QA
    ]
    verify_bad = [
        {
            "qa_list": qa_list(q, a),
            "conversation": conversation("How do bees keep warm?", "They shiver their muscles."),
        }
        for q, a in GOOD_QA
    ]
    return {
        "judge_chunk": (JUDGE_CHUNK, [values()] * 3, [values(chunk=CONTENTS)] * 3),
        "check_question": (
            question,
            [values(q, a) for q, a in GOOD_QA],
            [values(q, a) for q, a in UNANSWERABLE_QA],
        ),
        "check_answer_relevancy": (
            relevancy,
            [values(q, a) for q, a in GOOD_QA],
            [values(q, a) for q, a in INVENTED_QA],
        ),
        "check_answer_accuracy": (
            accuracy,
            [values(q, a) for q, a in GOOD_QA],
            [values(q, a) for q, a in WRONG_QA],
        ),
        "verify_conversation": (VERIFY_CONVERSATION, verify_good, verify_bad),
    }


@dataclass
class Tally:
    parsed: int = 0
    asked: int = 0
    good_pass: int = 0
    good_read: int = 0
    bad_pass: int = 0
    bad_read: int = 0
    tokens: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def passed(value: object) -> bool:
    return value is True or (isinstance(value, tuple) and value[0] is True)


async def ask_all(backend: OpenAIBackend, prompts: PromptLibrary, samples: int) -> None:
    print("| step | grammar | parsed | pass on good | pass on bad | difference | tokens | s/call |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, (step, good, bad) in items().items():
        for constrained in (True, False):
            sampling = replace(
                step.sampling, grammar=step.grammar if constrained else "", max_tokens=512
            )
            tally = Tally()
            for kind, group in (("good", good), ("bad", bad)):
                for item in group:
                    prompt = render(prompts.load(name), item, completion_mode=False)
                    for _ in range(samples):
                        started = time.perf_counter()
                        reply = await backend.complete(prompt, "local-model", sampling, [], name)
                        tally.seconds.append(time.perf_counter() - started)
                        tally.tokens.append(reply.completion_tokens)
                        tally.asked += 1
                        try:
                            value = step.parser(reply.text)
                        except ParseError:
                            continue
                        tally.parsed += 1
                        if kind == "good":
                            tally.good_read += 1
                            tally.good_pass += passed(value)
                        else:
                            tally.bad_read += 1
                            tally.bad_pass += passed(value)
            good_rate = tally.good_pass / tally.good_read if tally.good_read else float("nan")
            bad_rate = tally.bad_pass / tally.bad_read if tally.bad_read else float("nan")
            print(
                f"| {name} | {'on' if constrained else 'off'} | {tally.parsed}/{tally.asked} | "
                f"{good_rate:.2f} | {bad_rate:.2f} | {good_rate - bad_rate:+.2f} | "
                f"{statistics.mean(tally.tokens):.0f} | {statistics.mean(tally.seconds):.1f} |",
                flush=True,
            )


async def main_async(samples: int) -> None:
    prompts = PromptLibrary(REPO / "prompts", REPO / "prompts")
    with EmbeddedServer() as server:
        backend = OpenAIBackend(server.base_url or "", Secret(""), timeout=600)
        try:
            await ask_all(backend, prompts, samples)
        finally:
            await backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2, help="replies per item and mode")
    asyncio.run(main_async(parser.parse_args().samples))


if __name__ == "__main__":
    main()
