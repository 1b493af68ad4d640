"""A cost estimate before the run, from the chunks' token counts, the prompt files' sizes and the
calls the configuration implies. It is rough by design: it assumes every chunk is judged worthy,
three pairs per chunk, every vote decided in the fewest calls, and typical reply lengths, so it
is an upper-ish guess for the judging and question stages and a middle guess for the rest.
The run report shows what was really spent.
"""

from __future__ import annotations

from dataclasses import dataclass

from augmentoolkit.config import Config
from augmentoolkit.control_flow_functions.chunking import count_tokens
from augmentoolkit.generation_functions.prompts import PromptLibrary
from augmentoolkit.records import Chunk

PAIRS_PER_CHUNK = 3
# Typical reply length in tokens per step (what small instruct models tend to write).
REPLY_TOKENS = {
    "judge_chunk": 120,
    "plan_questions": 200,
    "generate_questions": 400,
    "check": 150,
    "repair_context": 150,
    "character": 250,
    "conversation": 150,
    "verify_conversation": 150,
}


@dataclass(frozen=True)
class Estimate:
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float

    def describe(self) -> str:
        return (
            f"estimate before the run: ~{self.calls} model calls, ~{self.prompt_tokens:,} prompt "
            f"and ~{self.completion_tokens:,} completion tokens, ~${self.cost:.2f}"
        )


def prompt_tokens(prompts: PromptLibrary, name: str) -> int:
    template = prompts.load(name)
    return sum(count_tokens(text) for _, text in template.messages)


def estimate_run(config: Config, chunks: list[Chunk], prompts: PromptLibrary) -> Estimate:
    """Calls and tokens a run over these chunks will likely need, and their price."""
    system = config.SYSTEM
    votes = system.DOUBLE_CHECK_COUNTER // 2 + 1
    small_calls = small_in = small_out = 0
    large_calls = large_in = large_out = 0
    for chunk in chunks:
        pairs, orderings = PAIRS_PER_CHUNK, system.REARRANGEMENTS_TO_TAKE
        steps = [
            ("judge_chunk", 1, "judge_chunk"),
            ("plan_questions", 1, "plan_questions"),
            ("generate_questions", 1, "generate_questions"),
            ("check_question", pairs * votes, "check"),
            ("check_answer_relevancy", pairs * votes, "check"),
            ("check_answer_accuracy", pairs * votes, "check"),
            ("repair_context", pairs, "repair_context"),
            ("verify_conversation", orderings, "verify_conversation"),
        ]
        if not system.ASSISTANT_MODE:
            steps += [
                (name, orderings, "character")
                for name in (
                    "plan_character_card",
                    "write_character_card",
                    "plan_scenario",
                    "write_scenario",
                )
            ]
        for name, count, reply in steps:
            small_calls += count
            small_in += count * (prompt_tokens(prompts, name) + chunk.tokens)
            small_out += count * REPLY_TOKENS[reply]
        writer = "write_conversation_" + ("assistant" if system.ASSISTANT_MODE else "characters")
        large_calls += orderings
        large_in += orderings * (prompt_tokens(prompts, writer) + chunk.tokens)
        large_out += orderings * pairs * 2 * REPLY_TOKENS["conversation"]
    cost = config.COST
    dollars = (
        small_in * cost.LOGICAL_INPUT_PRICE
        + small_out * cost.LOGICAL_OUTPUT_PRICE
        + large_in * cost.LARGE_INPUT_PRICE
        + large_out * cost.LARGE_OUTPUT_PRICE
    ) / 1e6
    return Estimate(small_calls + large_calls, small_in + large_in, small_out + large_out, dollars)
