"""Stage 6: group kept pairs by chunk and plan one conversation per ordering.

Pairs from one chunk form a group; near-duplicate questions (80% of words shared) are thinned.
Each group yields up to SYSTEM.REARRANGEMENTS_TO_TAKE distinct orderings, drawn from a generator
seeded by SYSTEM.SEED and the chunk id, so a rerun plans the same conversations.

Assistant mode: a user asks, an AI assistant answers; no model calls here.
Character mode: four calls per ordering build the setting: a character card plan and card (an
expert in the chunk's subject, with traits drawn from prompts/personality_traits.yaml), then a
scenario plan and scenario (who the less knowledgeable asker is, and why they meet).
"""

from __future__ import annotations

import itertools
import math
import random
import re
from pathlib import Path

import yaml

from augmentoolkit.control_flow_functions.judging import source_line
from augmentoolkit.control_flow_functions.progress import (
    StageOutcome,
    gather_in_order,
    successes,
)
from augmentoolkit.errors import PromptError
from augmentoolkit.generation_functions import grammars
from augmentoolkit.generation_functions.engine_wrapper import Sampling
from augmentoolkit.generation_functions.generation_step import GenerationContext, GenerationStep
from augmentoolkit.generation_functions.parsers import (
    format_qa_list,
    parse_character_card,
    parse_plan,
    parse_scenario,
)
from augmentoolkit.records import ConversationPlan, QAPair, content_id

DUPLICATE_OVERLAP = 0.8  # share of words two questions must share to count as duplicates
ASSISTANT_NAME, USER_NAME = "AI Assistant", "User"

CHARACTER_SAMPLING = Sampling(0.8, 1.0, 800)
CARD_VALUES = frozenset({"source", "chunk", "qa_list", "traits"})
PLAN_CARD = GenerationStep(
    "plan_character_card",
    parse_plan,
    CHARACTER_SAMPLING,
    grammar=grammars.FREE_PLAN,
    variables=CARD_VALUES,
)
WRITE_CARD = GenerationStep(
    "write_character_card",
    parse_character_card,
    CHARACTER_SAMPLING,
    grammar=grammars.CHARACTER_CARD,
    variables=CARD_VALUES | {"plan"},
    writes="the character card",
)
PLAN_SCENARIO = GenerationStep(
    "plan_scenario",
    parse_plan,
    CHARACTER_SAMPLING,
    grammar=grammars.FREE_PLAN,
    variables=frozenset({"source", "chunk", "qa_list", "character_card"}),
)
WRITE_SCENARIO = GenerationStep(
    "write_scenario",
    parse_scenario,
    Sampling(0.8, 1.0, 600),
    grammar=grammars.SCENARIO,
    variables=frozenset({"source", "qa_list", "character_card", "plan"}),
    writes="the scenario",
)
CHARACTER_STEPS = (PLAN_CARD, WRITE_CARD, PLAN_SCENARIO, WRITE_SCENARIO)

WORD = re.compile(r"[a-z0-9]+")


def question_words(question: str) -> frozenset[str]:
    """Example: 'What is a hive?' -> {'what', 'is', 'a', 'hive'}."""
    return frozenset(WORD.findall(question.lower()))


def near_duplicate(a: frozenset[str], b: frozenset[str]) -> bool:
    """Two questions sharing at least 80% of their words (Jaccard) ask the same thing."""
    return bool(a | b) and len(a & b) / len(a | b) >= DUPLICATE_OVERLAP


def group_by_chunk(pairs: list[QAPair]) -> list[list[QAPair]]:
    """Groups in order of first appearance, near-duplicate questions within a group removed."""
    groups: dict[str, list[tuple[frozenset[str], QAPair]]] = {}
    for pair in pairs:
        words = question_words(pair.question)
        group = groups.setdefault(pair.chunk.id, [])
        if not any(near_duplicate(words, seen) for seen, _ in group):
            group.append((words, pair))
    return [[pair for _, pair in group] for group in groups.values()]


def take_orderings(group: list[QAPair], count: int, rng: random.Random) -> list[tuple[QAPair, ...]]:
    """Up to `count` distinct orderings, the first one the original order.

    Example: 2 pairs, count 3 -> both orderings (only 2 exist).
    """
    wanted = min(count, math.factorial(len(group)))
    if len(group) <= 6:
        every = list(itertools.permutations(group))
        return [every[0], *rng.sample(every[1:], wanted - 1)]
    chosen: dict[tuple[str, ...], tuple[QAPair, ...]] = {tuple(p.id for p in group): tuple(group)}
    while len(chosen) < wanted:
        shuffled = rng.sample(group, len(group))
        chosen.setdefault(tuple(p.id for p in shuffled), tuple(shuffled))
    return list(chosen.values())


def load_traits(path: Path) -> dict[str, list[str]]:
    """Trait axes from the YAML trait list; PromptError names the file if it is malformed."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise PromptError(
            f"{path} could not be read as YAML: {error}. Fix or restore it."
        ) from None
    if (
        not isinstance(data, dict)
        or not data
        or not all(
            isinstance(v, list) and v and all(isinstance(t, str) for t in v) for v in data.values()
        )
    ):
        raise PromptError(
            f"{path} must map each trait axis to a non-empty list of traits. See the shipped "
            "prompts/personality_traits.yaml for the layout."
        )
    return {str(axis): list(traits) for axis, traits in data.items()}


def draw_traits(traits: dict[str, list[str]], rng: random.Random) -> tuple[str, ...]:
    """One trait per axis. Example: {'mood': ['calm']} -> ('calm',)."""
    return tuple(rng.choice(options) for options in traits.values())


def plan_orderings(
    pairs: list[QAPair],
    rearrangements: int,
    seed: int,
    assistant_mode: bool,
    traits: dict[str, list[str]],
) -> list[ConversationPlan]:
    """Skeleton plans (pairs, traits, names) before any character-mode calls."""
    plans = []
    for group in group_by_chunk(pairs):
        rng = random.Random(f"{seed}:{group[0].chunk.id}")
        for ordering in take_orderings(group, rearrangements, rng):
            plan_id = content_id("plan", *(p.id for p in ordering))
            drawn = () if assistant_mode else draw_traits(traits, rng)
            plans.append(
                ConversationPlan(
                    plan_id,
                    ordering,
                    assistant_mode,
                    traits=drawn,
                    primary_name=ASSISTANT_NAME,
                    secondary_name=USER_NAME,
                )
            )
    return plans


async def build_setting(
    ctx: GenerationContext, plan: ConversationPlan, use_filenames: bool
) -> ConversationPlan | str:
    """Character card and scenario for one plan, or the reason it could not be built."""
    chunk = plan.pairs[0].chunk
    values = {
        "source": source_line(chunk, use_filenames),
        "chunk": chunk.text,
        "qa_list": format_qa_list([(p.question, p.answer) for p in plan.pairs]),
        "traits": ", ".join(plan.traits),
    }
    card_plan = await PLAN_CARD.run(ctx, values, salt=plan.id)
    if not card_plan.ok:
        return f"character card plan unreadable: {card_plan.error}"
    card = await WRITE_CARD.run(ctx, {**values, "plan": card_plan.value or ""}, salt=plan.id)
    if not card.ok or card.value is None:
        return f"character card unreadable: {card.error}"
    card_text, primary = card.value
    scenario_values = {k: values[k] for k in ("source", "chunk", "qa_list")}
    scenario_values["character_card"] = card_text
    scenario_plan = await PLAN_SCENARIO.run(ctx, scenario_values, salt=plan.id)
    if not scenario_plan.ok:
        return f"scenario plan unreadable: {scenario_plan.error}"
    del scenario_values["chunk"]
    scenario_values["plan"] = scenario_plan.value or ""
    scenario = await WRITE_SCENARIO.run(ctx, scenario_values, salt=plan.id)
    if not scenario.ok or scenario.value is None:
        return f"scenario unreadable: {scenario.error}"
    secondary, scenario_text = scenario.value
    if secondary.lower() == primary.lower():
        return f"scenario gave the asker the expert's name ({primary})"
    return ConversationPlan(
        plan.id,
        plan.pairs,
        False,
        card_text,
        card_plan.value or "",
        scenario_text,
        scenario_plan.value or "",
        plan.traits,
        primary,
        secondary,
    )


async def plan_conversations(
    ctx: GenerationContext,
    pairs: list[QAPair],
    rearrangements: int,
    seed: int,
    assistant_mode: bool,
    use_filenames: bool,
) -> tuple[list[ConversationPlan], StageOutcome]:
    traits = (
        {} if assistant_mode else load_traits(ctx.prompts.locate_file("personality_traits.yaml"))
    )
    skeletons = plan_orderings(pairs, rearrangements, seed, assistant_mode, traits)
    outcome = StageOutcome("plan conversations", items_in=len(skeletons))
    if assistant_mode:
        outcome.kept = len(skeletons)
        return skeletons, outcome
    built = await gather_in_order(skeletons, lambda plan: build_setting(ctx, plan, use_filenames))
    plans = successes(built, outcome)
    outcome.kept = len(plans)
    return plans, outcome
