"""Stage 4: validate every pair with three checks, each a majority vote that stops once decided.

Before any model is asked, two checks that cost nothing (grounding.py): a pair that repeats the
question or the answer of an earlier pair on its chunk is dropped, and a pair whose words are
mostly not its chunk's (SYSTEM.MIN_ANSWER_GROUNDING) fails as a model check would.

Model checks, in order: the question makes sense and is answerable from the chunk; the answer
sticks to the chunk; the answer is accurate to the chunk (both skipped for an answer that quotes
one of the chunk's sentences). One `majority_vote` serves all three. A pair that fails a check is
replaced by a fresh pair from the same chunk (`new_question`, told what was wrong) up to
SYSTEM.QA_REGENERATIONS times, each replacement validated from the start; then it is dropped.

Votes run in rounds: each round launches just enough calls to possibly decide the outcome, so
no call is made whose vote could not change the result. A vote whose reply never parsed counts
for neither side and is replaced; after `votes` unreadable votes the check is undecided.

Every vote is kept as data (verdicts.py): a row holds "checks" (the checks its pair needed,
"grounding" first) and "votes" ({"check", "passed", "reason"}: true, false, or null for an
unreadable reply; the checks that cost nothing are one vote each), for the row's pair; each failed
attempt in "history" holds its own "votes". `augmentoolkit export --min-score` re-decides from them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from augmentoolkit.control_flow_functions.chunking import split_sentences
from augmentoolkit.control_flow_functions.grounding import Signature, grounding_problem, is_repeat
from augmentoolkit.control_flow_functions.judging import source_line
from augmentoolkit.control_flow_functions.progress import StageOutcome, gather_in_order
from augmentoolkit.control_flow_functions.questions import make_pair
from augmentoolkit.control_flow_functions.verdicts import Ballot, ballot
from augmentoolkit.generation_functions import grammars
from augmentoolkit.generation_functions.engine_wrapper import Sampling
from augmentoolkit.generation_functions.generation_step import GenerationContext, GenerationStep
from augmentoolkit.generation_functions.parsers import parse_single_qa, parse_verdict
from augmentoolkit.records import Chunk, QAPair

CHECK_SAMPLING = Sampling(0.2, 1.0, 800)
CHECK_QUESTION = GenerationStep(
    "check_question",
    parse_verdict,
    CHECK_SAMPLING,
    grammar=grammars.CHECK_QUESTION,
    variables=frozenset({"chunk", "source", "question", "answer"}),
)
ANSWER_CHECKS = (
    GenerationStep(
        "check_answer_relevancy",
        parse_verdict,
        CHECK_SAMPLING,
        grammar=grammars.CHECK_ANSWER_RELEVANCY,
        variables=CHECK_QUESTION.variables,
    ),
    GenerationStep(
        "check_answer_accuracy",
        parse_verdict,
        CHECK_SAMPLING,
        grammar=grammars.CHECK_ANSWER_ACCURACY,
        variables=CHECK_QUESTION.variables,
    ),
)
CHECKS = (CHECK_QUESTION, *ANSWER_CHECKS)
NEW_QUESTION = GenerationStep(
    "new_question",
    parse_single_qa,
    Sampling(0.7, 1.0, 600),
    grammar=grammars.NEW_QUESTION,
    variables=frozenset({"chunk", "source", "rejected_question", "reason"}),
    writes="the question and the answer",
)
# Names of the checks that need no model, as they appear in reasons and reports.
GROUNDING = "grounding"
DUPLICATE = "duplicate_question"


@dataclass(frozen=True)
class Vote:
    passed: bool | None  # None: undecided (too many unreadable votes)
    yes: int
    no: int
    reason: str  # reasoning of the last vote against, for regeneration and reports
    ballots: tuple[Ballot, ...] = ()  # every vote cast, in the order the replies came back


@dataclass
class Checked:
    """What check_pair found: the problem (None when every check passed), the checks the pair
    needed and every vote cast on it."""

    problem: str | None
    checks: list[str]
    votes: list[Ballot]


async def majority_vote(
    step: GenerationStep[tuple[bool, str]],
    ctx: GenerationContext,
    values: dict[str, str],
    votes: int,
    salt: str,
) -> Vote:
    """Ask up to `votes` times (strict majority decides) and stop as soon as the result is fixed.

    Example: votes=3 and the first two pass -> 2 calls, passed=True.
    """
    needed_yes = votes // 2 + 1
    needed_no = votes - votes // 2
    yes = no = unreadable = 0
    reason = ""
    ballots: list[Ballot] = []
    next_index = 0
    while yes < needed_yes and no < needed_no and unreadable < votes:
        round_size = min(needed_yes - yes, needed_no - no, votes - unreadable)
        indices = range(next_index, next_index + round_size)
        next_index += round_size
        results = await asyncio.gather(
            *(step.run(ctx, values, salt=f"{salt}:vote{i}") for i in indices)
        )
        for result in results:
            if not result.ok or result.value is None:
                unreadable += 1
                ballots.append(ballot(step.name, None, result.error))
                continue
            ballots.append(ballot(step.name, *result.value))
            if result.value[0]:
                yes += 1
            else:
                no += 1
                reason = result.value[1]
    decided = True if yes >= needed_yes else False if no >= needed_no else None
    return Vote(decided, yes, no, reason, tuple(ballots))


def checks_for(pair: QAPair) -> tuple[GenerationStep[tuple[bool, str]], ...]:
    """The model checks a pair needs. An answer that is one of its chunk's sentences, word for
    word (as grammars make them), cannot add to the text or contradict it, so the two answer
    checks would only add noise and calls; the question is still checked."""
    if pair.answer in split_sentences(pair.chunk.text):
        return (CHECK_QUESTION,)
    return CHECKS


async def check_pair(
    ctx: GenerationContext, pair: QAPair, votes: int, source: str, min_grounding: float
) -> Checked:
    """Problem None when every check passes, else the name of the failed check and its
    reasoning; with the checks the pair needed and every vote cast on it."""
    checked = Checked(None, [GROUNDING, *(check.name for check in checks_for(pair))], [])
    ungrounded = grounding_problem(pair.question, pair.answer, pair.chunk.text, min_grounding)
    checked.votes.append(ballot(GROUNDING, ungrounded is None, ungrounded or ""))
    if ungrounded is not None:
        checked.problem = f"{GROUNDING}: {ungrounded}"
        return checked
    values = {
        "chunk": pair.chunk.text,
        "source": source,
        "question": pair.question,
        "answer": pair.answer,
    }
    for check in checks_for(pair):
        vote = await majority_vote(check, ctx, values, votes, salt=pair.id)
        checked.votes.extend(vote.ballots)
        if vote.passed is None:
            checked.problem = f"{check.name}: no readable verdict"
        elif not vote.passed:
            checked.problem = f"{check.name}: {vote.reason.strip()[:300] or 'failed'}"
        if checked.problem is not None:
            return checked
    return checked


async def validate_pairs(
    ctx: GenerationContext,
    pairs: list[QAPair],
    votes: int,
    regenerations: int,
    use_filenames: bool,
    min_grounding: float,
) -> tuple[list[QAPair], list[dict[str, object]], StageOutcome]:
    """Returns the surviving pairs (possibly regenerated), a row per input pair, and counts."""
    outcome = StageOutcome("validate pairs", items_in=len(pairs))
    asked: set[Signature] = set()
    repeats = {pair.id for pair in pairs if is_repeat(pair, asked)}

    async def settle(pair: QAPair) -> dict[str, object]:
        if pair.id in repeats:
            return repeat_row(pair)
        source = source_line(pair.chunk, use_filenames)
        current = pair
        history: list[dict[str, object]] = []
        first: Checked | None = None
        for attempt in range(regenerations + 1):
            checked = await check_pair(ctx, current, votes, source, min_grounding)
            first = first or checked
            problem = checked.problem
            if problem is None:
                return row_of(current, True, history, checked)
            history.append(
                {"question": current.question, "problem": problem, "votes": checked.votes}
            )
            if attempt == regenerations:
                break
            replacement = await rewriter(pair.chunk).run(
                ctx,
                {
                    "chunk": pair.chunk.text,
                    "source": source,
                    "rejected_question": current.question,
                    "reason": problem,
                },
                salt=f"{pair.id}:regen{attempt}",
            )
            if not replacement.ok or replacement.value is None:
                history.append({"problem": f"new_question unreadable: {replacement.error}"})
                break
            question, answer = replacement.value
            current = make_pair(pair.chunk, question, answer, f"{pair.id}:regen{attempt}")
        assert first is not None  # the loop runs at least once
        return row_of(pair, False, history, first)

    rows = await gather_in_order(pairs, settle)
    kept = []
    kept_asked: set[Signature] = set()  # a regenerated pair may repeat another
    for row in rows:
        pair = QAPair.from_dict(row["pair"])  # type: ignore[arg-type]
        if row["kept"] and is_repeat(pair, kept_asked):
            row["kept"] = False
            row["history"].append(repeat_entry(pair))  # type: ignore[attr-defined]
            row["checks"].append(DUPLICATE)  # type: ignore[attr-defined]
            row["votes"].append(repeat_ballot())  # type: ignore[attr-defined]
        if row["kept"]:
            kept.append(pair)
        else:
            last = row["history"][-1]["problem"]  # type: ignore[index]
            outcome.drop(str(last).split(":")[0])
    outcome.kept = len(kept)
    return kept, rows, outcome


def rewriter(chunk: Chunk) -> GenerationStep[tuple[str, str]]:
    """NEW_QUESTION for one chunk: under a grammar, the answer is one of its sentences."""
    return replace(NEW_QUESTION, grammar=grammars.new_question(split_sentences(chunk.text)))


REPEATS = "repeats the question or the answer of an earlier pair on the same text"


def repeat_entry(pair: QAPair) -> dict[str, str]:
    return {"question": pair.question, "problem": f"{DUPLICATE}: {REPEATS}"}


def repeat_ballot() -> Ballot:
    return ballot(DUPLICATE, False, REPEATS)


def repeat_row(pair: QAPair) -> dict[str, object]:
    """The row of a pair dropped before any check: it repeats an earlier pair."""
    return {
        "pair": pair.to_dict(),
        "kept": False,
        "history": [repeat_entry(pair)],
        "checks": [DUPLICATE],
        "votes": [repeat_ballot()],
    }


def row_of(
    pair: QAPair, kept: bool, history: list[dict[str, object]], checked: Checked
) -> dict[str, object]:
    """A validation row: the pair, whether it was kept, its failed attempts, and the checks and
    votes of the row's own pair (the kept pair, or a dropped pair's first attempt)."""
    return {
        "pair": pair.to_dict(),
        "kept": kept,
        "history": history,
        "checks": checked.checks,
        "votes": checked.votes,
    }
