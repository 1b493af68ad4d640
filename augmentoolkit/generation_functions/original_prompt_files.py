"""The original Augmentoolkit's prompt files: which step here each name is, what each of its
placeholders is called here, and how its two formats read. original_prompts.py decides what to
do with a file.

Per original prompt: our step, the arguments the original passed to it (only those were
placeholders) mapped to our step's values (None: no counterpart here), whether it came in
`_filenames` / `_no_filenames` variants, and when our step runs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from augmentoolkit.generation_functions.prompts import INSTRUCTION_HEADER, RESPONSE_HEADER

CHARACTERS = "it runs only with ASSISTANT_MODE False"
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
HEADER_LINE = re.compile(
    rf"^(?:{re.escape(INSTRUCTION_HEADER)}|{re.escape(RESPONSE_HEADER)})[ \t]*$", re.MULTILINE
)


@dataclass(frozen=True)
class OriginalPrompt:
    step: str
    values: dict[str, str | None]
    variants: bool = False
    runs_when: str = "it runs in every configuration"


CHUNK = {"text": "chunk", "textname": "source"}
CHECK = {"text": "chunk", "question": "question", "answer": "answer"}
CARD = {
    "text": "chunk",
    "textname": "source",
    "question_answer_list": "qa_list",
    "special_instructions": "traits",
}
CONVERSATION: dict[str, str | None] = {
    "character": "character_card",
    "scenario": "scenario",
    "extra_info": None,  # steps 2, 4, 5 of the scenario plan
    "question_answer_list": "qa_list",
    "charname": "primary_name",
    "conv_starter": None,  # a random first word for the expert's opening line
}

ORIGINAL_PROMPTS: dict[str, OriginalPrompt] = {
    "judge_paragraph": OriginalPrompt("judge_chunk", dict(CHUNK), variants=True),
    "qatuples_plan": OriginalPrompt(
        "plan_questions", {"text": "chunk", "textdetails": "source"}, variants=True
    ),
    "qatuples_gen": OriginalPrompt(
        "generate_questions", {"text": "chunk", "textdetails": "source"}, variants=True
    ),
    "check_question": OriginalPrompt("check_question", {"text": "chunk", "question": "question"}),
    "check_answer_relevancy_with_text": OriginalPrompt("check_answer_relevancy", dict(CHECK)),
    "check_answer": OriginalPrompt("check_answer_accuracy", dict(CHECK)),
    "new_q_gen": OriginalPrompt("new_question", dict(CHUNK), variants=True),
    "check_qatuple_context": OriginalPrompt(
        "repair_context",
        {"textname": None, "question": "question", "answer": "answer"},
        variants=True,
    ),
    "create_character_card_plan": OriginalPrompt(
        "plan_character_card", dict(CARD), variants=True, runs_when=CHARACTERS
    ),
    "create_character_card": OriginalPrompt(
        "write_character_card",
        {**CARD, "plan": "plan", "starting_str": None},  # starting_str: a random initial
        variants=True,
        runs_when=CHARACTERS,
    ),
    "create_scenario_plan": OriginalPrompt(
        "plan_scenario",
        {"question_answer_list": "qa_list", "character": "character_card"},
        runs_when=CHARACTERS,
    ),
    "create_scenario": OriginalPrompt(
        "write_scenario",
        {
            "question_answer_list": "qa_list",
            "character": "character_card",
            "plan": "plan",
            "selected_variation": None,  # a random opening for the scenario
        },
        runs_when=CHARACTERS,
    ),
    "multi_turn_conversation": OriginalPrompt(
        "write_conversation_characters", dict(CONVERSATION), runs_when=CHARACTERS
    ),
    "multi_turn_assistant_conversation": OriginalPrompt(
        "write_conversation_assistant",
        dict(CONVERSATION),
        runs_when="it runs only with ASSISTANT_MODE True",
    ),
}
ALIASES = {"generate_new_question": "new_q_gen"}  # a name users know new_q_gen by
VARIANTS = ("no_filenames", "filenames")  # longest suffix first


@dataclass(frozen=True)
class OriginalFile:
    path: Path
    base: str  # the key of ORIGINAL_PROMPTS
    variant: str | None  # "filenames", "no_filenames", or None (one file for both)

    @property
    def step(self) -> str:
        return ORIGINAL_PROMPTS[self.base].step

    @property
    def stem(self) -> str:
        return self.path.stem


def original_file(path: Path) -> OriginalFile | None:
    """The original prompt a file name denotes, or None.
    Example: judge_paragraph_no_filenames.json -> (judge_paragraph, no_filenames)."""
    if path.suffix not in (".txt", ".json") or not path.is_file():
        return None
    stem, variant = path.stem, None
    for suffix in VARIANTS:
        if stem.endswith("_" + suffix):
            stem, variant = stem[: -len(suffix) - 1], suffix
            break
    base = ALIASES.get(stem, stem)
    prompt = ORIGINAL_PROMPTS.get(base)
    if prompt is None or (variant is not None and not prompt.variants):
        return None
    return OriginalFile(path, base, variant)


def read_messages(file: OriginalFile) -> list[tuple[str, str]]:
    """(role, text) turns: a .json's messages, or a .txt as one completion text."""
    text = file.path.read_text(encoding="utf-8")
    if file.path.suffix == ".txt":
        return [("completion", text)]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON (line {error.lineno})") from None
    if not isinstance(data, list) or not data or not all(_is_message(m) for m in data):
        raise ValueError('not a list of {"role": system|user|assistant, "content": text}')
    if data[-1]["role"] != "user":
        raise ValueError("its last message is not the user's, the one the model answers")
    return [(m["role"], m["content"].replace("\\n", "\n").replace('\\"', '"')) for m in data]


def _is_message(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and item.get("role") in ("system", "user", "assistant")
        and isinstance(item.get("content"), str)
    )


def worked_replies(messages: list[tuple[str, str]]) -> list[str]:
    """The example replies a prompt shows the model: its assistant messages, or in a completion
    text every closed `### Response:` section (the last one is the model's to write)."""
    if messages[0][0] != "completion":
        return [text for role, text in messages if role == "assistant"]
    text = messages[0][1]
    headers = list(HEADER_LINE.finditer(text))
    replies = []
    for here, after in zip(headers, headers[1:], strict=False):
        if here.group(0).startswith(RESPONSE_HEADER):
            replies.append(text[here.end() : after.start()].strip())
    return [reply for reply in replies if reply]


def fill_placeholders(text: str, mapping: dict[str, str | None]) -> str:
    """The original's `{name}` placeholders as `${ours}`; every `$` kept literal, every other
    brace left as it is. Example: 'Cost $5 of {text}' -> 'Cost $$5 of ${chunk}'."""

    def swap(match: re.Match[str]) -> str:
        ours = mapping.get(match.group(1))
        return "${" + ours + "}" if ours else match.group(0)

    return PLACEHOLDER.sub(swap, text.replace("$", "$$"))
