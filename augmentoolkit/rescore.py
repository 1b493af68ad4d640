"""`augmentoolkit export --min-score S`: the datasets re-decided from the stored verdicts.

Validation keeps each vote (control_flow_functions/verdicts.py), so which pairs count as valid
can change after the run without a model call:

- tightening (S above what a pair scored, e.g. 1.0 drops every pair with any failed vote):
  the pair leaves qa_pairs.jsonl and the alpaca files, and every conversation built from it
  leaves the conversation datasets (a conversation goes whole or not at all);
- relaxing (S at or below the score of a pair the run dropped): the pair, as first asked, joins
  qa_pairs.jsonl and the alpaca files. It never went through the later stages (repair context,
  conversations), so it is not reworded and no conversation holds it: run the pipeline for that.
  Only a pair whose every check ran can come back (a check never reached scores 0).

Pairs keep their chunk order; only chunks every stage has been through are exported, as now.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from augmentoolkit.control_flow_functions.verdicts import pair_score, passes
from augmentoolkit.pipeline import PipelineRun
from augmentoolkit.records import Conversation, QAPair
from augmentoolkit.stages import Stage

Rows = list[dict[str, Any]]
VALIDATION = "validate pairs"


class RescoredRun(PipelineRun):
    """A PipelineRun whose export keeps the pairs scoring at least `min_score`."""

    min_score: float = 1.0

    def _kept_items(self, kind: type) -> Iterator[Any]:
        if kind is QAPair:
            return self._rescored_pairs()
        if kind is Conversation:
            return self._rescored_conversations()
        return super()._kept_items(kind)

    def _validation(self) -> Stage:
        return next(stage for stage in self.stages if stage.name == VALIDATION)

    def _rescored_pairs(self) -> Iterator[QAPair]:
        """Per chunk, in validation order: a pair the run kept, as the last pair stage left it
        (gone if a later stage dropped it); a pair it dropped, as first asked."""
        last = next(s for s in reversed(self.stages) if s.produces is QAPair)
        later = self.folders.chunks_of(last)
        for rows, later_rows in aligned(self.folders.chunks_of(self._validation()), later):
            survivors = {pair.id: pair for pair in last.kept(later_rows)}
            for row in rows:
                if not passes(row, self.min_score):
                    continue
                if not row["kept"]:
                    yield QAPair.from_dict(row["pair"])
                elif row["pair"]["id"] in survivors:
                    yield survivors[row["pair"]["id"]]

    def _rescored_conversations(self) -> Iterator[Conversation]:
        """The conversations whose every pair still passes."""
        scores = {
            row["pair"]["id"]: pair_score(row)
            for row in self.folders.rows_of(self._validation())
            if row["kept"]
        }
        for conversation in super()._kept_items(Conversation):
            ids = [pair.id for pair in conversation.plan.pairs]
            if all(scores.get(pair_id, 0.0) >= self.min_score for pair_id in ids):
                yield conversation


def aligned(
    first: Iterator[tuple[int, str, Rows]], second: Iterator[tuple[int, str, Rows]]
) -> Iterator[tuple[Rows, Rows]]:
    """The rows of both stages for each chunk the second has written. Both come in chunk order
    and a stage writes a chunk (with no row when nothing reached it) only after the one before
    it did, so the second's chunks are among the first's."""
    for seq, _, later_rows in second:
        rows: Rows = []
        for earlier_seq, _, earlier_rows in first:
            if earlier_seq == seq:
                rows = earlier_rows
                break
        yield rows, later_rows
