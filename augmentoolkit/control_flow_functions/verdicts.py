"""Validation verdicts kept as data, and the score that re-decides a pair from them.

A validation row (qatuples_validated/validation.jsonl) holds "checks", the checks its pair
needed ("grounding", then the model checks; "duplicate_question" for a repeat), and "votes",
one ballot per vote cast: {"check", "passed", "reason"}, passed being true, false, or null for
a reply that never parsed. The checks that cost nothing (grounding, duplicate) are one vote each.
No check gives a number of its own, so the score is the share of votes that passed:

- a check's score: its passing votes over its readable votes; 0.0 when it has none (it was
  never reached, because an earlier check failed, or every reply was unreadable);
- a pair's score: the lowest of its checks' scores (0.0 with no check).

Votes stop once the majority is decided, so a pair whose first two of three votes passed scores
1.0 and one that passed 2 to 1 scores 2/3. `score >= S` is not the majority rule (with an even
DOUBLE_CHECK_COUNTER a 1-1 tie fails the vote but scores 0.5), which is why an export without
--min-score keeps exactly the pairs the run kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict


class Ballot(TypedDict):
    check: str
    passed: bool | None  # None: the reply never parsed
    reason: str


def ballot(check: str, passed: bool | None, reason: str) -> Ballot:
    return {"check": check, "passed": passed, "reason": reason.strip()}


def check_scores(row: Mapping[str, Any]) -> dict[str, float]:
    """Each needed check's share of passing votes, in check order.

    Example: checks ["grounding", "check_question"], votes grounding pass, check_question pass,
    fail, pass -> {"grounding": 1.0, "check_question": 0.666...}.
    """
    passed: dict[str, int] = {}
    readable: dict[str, int] = {}
    for vote in row["votes"]:
        if vote["passed"] is None:
            continue
        name = vote["check"]
        readable[name] = readable.get(name, 0) + 1
        passed[name] = passed.get(name, 0) + int(vote["passed"])
    names = dict.fromkeys([*row["checks"], *readable])
    return {
        name: passed.get(name, 0) / readable[name] if readable.get(name) else 0.0 for name in names
    }


def pair_score(row: Mapping[str, Any]) -> float:
    """The lowest check score of a validation row; 0.0 with no check."""
    return min(check_scores(row).values(), default=0.0)


def passes(row: Mapping[str, Any], min_score: float | None) -> bool:
    """Kept under `min_score`: the run's own decision when None, else score >= min_score."""
    if min_score is None:
        return bool(row["kept"])
    return pair_score(row) >= min_score
