"""A scripted stand-in for a model, for end-to-end runs against the scripted server.

It reads the step name from the request's X-Augmentoolkit-Step header and the text the prompt
carries in its final user turn, and replies in each step's documented layout with content taken
from that text, so the pipeline's real parsers and checks run on every reply. Its choices are
deterministic (hashes of the prompt), and some are deliberately negative (an unsuitable chunk, a
failed check, a reworded pair) so the drop and regeneration paths run too.
"""

from __future__ import annotations

import hashlib
import re

from augmentoolkit.generation_functions.generation_step import FEEDBACK_OPENING
from augmentoolkit.generation_functions.parsers import parse_qa_pairs
from tests.llm_server import RecordedRequest

EXPERT, ASKER = "Dr. Ada Finch", "Tom Reed"
SENTENCE = re.compile(r"[^.!?\n]{30,300}[.!?]")


def final_user_text(request: RecordedRequest) -> str:
    """The last user turn of a chat request (before a retry's note on why the last reply
    failed: the fake model answers the task, as a real one would), or of a completion prompt."""
    if "messages" in request.body:
        users = [m["content"] for m in request.body["messages"] if m["role"] == "user"]
        while len(users) > 1 and users[-1].startswith(FEEDBACK_OPENING):
            users.pop()
        return str(users[-1])
    prompt = str(request.body["prompt"])
    last = prompt.rsplit("### Instruction:\n", 1)[-1]
    return last.rsplit("\n\n### Response:", 1)[0]


def fraction(text: str, salt: str) -> float:
    """A stable number in [0, 1) from the text. Example: fraction('a', 'b') is always the same."""
    digest = hashlib.sha256((salt + text).encode("utf-8")).hexdigest()
    return int(digest[:8], 16) / 0x1_0000_0000


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE.findall(text)]


def qa_from_text(text: str, count: int) -> list[tuple[str, str]]:
    found = sorted(sentences(text), key=len, reverse=True)[:count] or [text.strip()[:200]]
    pairs = []
    for sentence in found:
        topic = " ".join(sentence.split()[:6]).rstrip(",;:")
        pairs.append((f"What is known about this: {topic}?", sentence))
    return pairs


def qa_list_from(text: str) -> list[tuple[str, str]]:
    """The pairs in the final turn's qa_list (they come last in the conversation prompts)."""
    start = text.find("Question 1:")
    return parse_qa_pairs(text[start:]) if start >= 0 else []


def reply(request: RecordedRequest) -> str:
    step = request.step or ""
    text = final_user_text(request)
    writer = WRITERS.get(step)
    if writer is None:
        return f"Unscripted step {step!r}."
    return writer(text)


def judge(text: str) -> str:
    unsuitable = "Project Gutenberg" in text or fraction(text, "judge") < 0.15
    verdict = "unsuitable" if unsuitable else "suitable"
    return f"The passage is considered.\nVerdict: {verdict}"


def generate(text: str) -> str:
    return "\n".join(
        f"Question {i}: {q}\nAnswer {i}: {a}" for i, (q, a) in enumerate(qa_from_text(text, 3), 1)
    )


def new_question(text: str) -> str:
    (question, answer), *_ = qa_from_text(text, 2)[-1:] or qa_from_text(text, 1)
    return f"Question: {question} (restated)\nAnswer: {answer}"


def check(text: str) -> str:
    failed = fraction(text, "check") < 0.1
    return f"Checked against the text.\nVerdict: {'fail' if failed else 'pass'}"


def repair(text: str) -> str:
    if fraction(text, "repair") < 0.2:
        (question, answer), *_ = qa_from_text(text, 1)
        return f"It leans on the text.\nVerdict: reworded\nQuestion: {question}\nAnswer: {answer}"
    return "Nothing to repair.\nVerdict: pass"


def card(text: str) -> str:
    return f"Name: {EXPERT}\nTraits: patient\nBackground: a field engineer.\nSpeech: plain."


def scenario(text: str) -> str:
    return f"Secondary character: {ASKER}\nScenario: {ASKER} visits {EXPERT} at her workshop."


def conversation(asker: str, answerer: str) -> object:
    def write(text: str) -> str:
        lines = []
        for question, answer in qa_list_from(text):
            lines.append(f"{asker}: {question}")
            lines.append(f"{answerer}: {answer}")
        return "\n".join(lines)

    return write


WRITERS = {
    "judge_chunk": judge,
    "plan_questions": lambda text: "The chunk states several facts worth asking about.",
    "generate_questions": generate,
    "new_question": new_question,
    "check_question": check,
    "check_answer_relevancy": check,
    "check_answer_accuracy": check,
    "repair_context": repair,
    "plan_character_card": lambda text: "An expert engineer who explains patiently.",
    "write_character_card": card,
    "plan_scenario": lambda text: "A visitor asks the expert for advice.",
    "write_scenario": scenario,
    "write_conversation_assistant": conversation("User", "AI Assistant"),
    "write_conversation_characters": conversation(ASKER, EXPERT),
    "verify_conversation": lambda text: "Every answer is carried faithfully.\nVerdict: pass",
}
