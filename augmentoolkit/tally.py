"""What each stage did in one run, counted as chunks finish it: its counts merged over chunks,
its calls and tokens (from its steps' counters, which belong to no other stage), the time from
its first start to its last end, and the one line it prints. Also the rule that a stage which
kept nothing stops the run. Does not run anything."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from augmentoolkit.config import Config
from augmentoolkit.control_flow_functions.progress import StageOutcome
from augmentoolkit.errors import PipelineEmpty
from augmentoolkit.generation_functions.generation_step import StepStats
from augmentoolkit.stages import Stage, stage_steps

SERVER_GAVE_UP = "the server gave up on a call (a rerun finishes it)"


def server_gave_up(stage: Stage, items: int) -> StageOutcome:
    """A stage's counts for a chunk it could not finish: every item failed (not a verdict)."""
    outcome = StageOutcome(stage.name, items_in=items, failed=items)
    outcome.reasons[SERVER_GAVE_UP] = items
    return outcome


@dataclass
class Tally:
    config: Config
    stats: dict[str, StepStats]  # the run's step counters (GenerationContext.stats)
    outcomes: dict[str, StageOutcome] = field(default_factory=dict)  # in the order first seen
    clock: dict[str, tuple[float, float]] = field(default_factory=dict)  # first start, last end

    def add(self, stage: Stage, part: StageOutcome, started: float) -> None:
        """Count one chunk's outcome of a stage that started at `started`."""
        self.outcomes.setdefault(stage.name, StageOutcome(stage.name)).absorb(part)
        first, _ = self.clock.get(stage.name, (started, 0.0))
        self.clock[stage.name] = (first, time.monotonic())

    def calls(self, stage: Stage) -> tuple[int, int]:
        """Model calls and tokens of the stage's steps so far in this run."""
        names = stage_steps(stage, self.config)
        stats = [self.stats[name] for name in names if name in self.stats]
        return sum(s.requests for s in stats), sum(s.tokens for s in stats)

    def close(self, stage: Stage) -> StageOutcome:
        """The stage's outcome with its calls, tokens and seconds filled in."""
        outcome = self.outcomes.setdefault(stage.name, StageOutcome(stage.name))
        outcome.calls, outcome.tokens = self.calls(stage)
        first, last = self.clock.get(stage.name, (0.0, 0.0))
        outcome.seconds = last - first
        return outcome

    def record(self, outcome: StageOutcome) -> str:
        """Keep an outcome made elsewhere (reading and chunking); its line."""
        self.outcomes[outcome.stage] = outcome
        return line(outcome)


def line(outcome: StageOutcome) -> str:
    """Example: 'judge chunks: in 4, kept 3, dropped 1, failed 0, calls 4, tokens 2431, 0.2s'."""
    return (
        f"{outcome.stage}: in {outcome.items_in}, kept {outcome.kept}, dropped "
        f"{outcome.dropped}, failed {outcome.failed}, calls {outcome.calls}, "
        f"tokens {outcome.tokens}, {outcome.seconds:.1f}s"
    )


def check_not_empty(outcome: StageOutcome, output: Path) -> None:
    """PipelineEmpty when a stage kept none of its items, or got none, naming where to look."""
    if outcome.items_in and not outcome.kept:
        raise PipelineEmpty(
            f"stage '{outcome.stage}' kept none of its {outcome.items_in} items: "
            f"{outcome.top_reasons() or 'no reason recorded'}. Look at the stage's folder "
            f"under {output} and the model's replies in {output / 'store'}."
        )
    if not outcome.items_in:
        raise PipelineEmpty(
            f"stage '{outcome.stage}' received nothing to work on. Check the stage before it."
        )
