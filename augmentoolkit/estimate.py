"""A cost estimate before the run, from the chunks' count and tokens, the prompt files' sizes and
the calls each row of the stage table is likely to make (Stage.guess) for each item it gets
(Stage.fanout says how many items the stage hands on per item in). It is rough by design: every
chunk judged worthy, three pairs per chunk, every vote decided in the fewest calls, typical
reply lengths. The run report shows what was really spent.
"""

from __future__ import annotations

from dataclasses import dataclass

from augmentoolkit.config import Config
from augmentoolkit.control_flow_functions.chunking import count_tokens
from augmentoolkit.generation_functions.engine_wrapper import dollars
from augmentoolkit.generation_functions.prompts import PromptLibrary
from augmentoolkit.stages import STAGES, Stage


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


def estimate_run(
    config: Config,
    chunk_count: int,
    chunk_tokens: int,
    prompts: PromptLibrary,
    stages: tuple[Stage, ...] = STAGES,
) -> Estimate:
    """Calls and tokens a run over these chunks will likely need, and their price. Each call
    is priced as its prompt file plus the average chunk (every prompt shows the chunk or its
    pairs)."""
    section = config.COST
    price = {
        "small": (section.LOGICAL_INPUT_PRICE, section.LOGICAL_OUTPUT_PRICE),
        "large": (section.LARGE_INPUT_PRICE, section.LARGE_OUTPUT_PRICE),
    }
    average_chunk = chunk_tokens / chunk_count if chunk_count else 0.0
    items = float(chunk_count)
    calls = prompt_in = reply_out = cost = 0.0
    for stage in stages:
        for guess in stage.guess(config):
            count = items * guess.per_item
            tokens_in = count * (prompt_tokens(prompts, guess.prompt) + average_chunk)
            tokens_out = count * guess.reply_tokens
            calls += count
            prompt_in += tokens_in
            reply_out += tokens_out
            cost += dollars(price, guess.role, tokens_in, tokens_out)  # priced per role here
        items *= stage.fanout(config)
    return Estimate(round(calls), round(prompt_in), round(reply_out), cost)
