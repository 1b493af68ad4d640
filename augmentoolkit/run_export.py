"""Step 8, export: every dataset format from the last stages' folders (near-duplicates
removed on the way), the train/eval split, the Hugging Face folder, meta-datagen and the
original's shapes, each as the config asks. A function of the output folder's stage files, so
the local run, the Ray driver (after merging its shards) and a rerun all write the same bytes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from augmentoolkit.control_flow_functions.dedup import DuplicateFilter
from augmentoolkit.control_flow_functions.export import (
    DUPLICATES_FILE,
    write_datasets,
    write_meta_datagen,
)
from augmentoolkit.control_flow_functions.hf_dataset import export_for_hub
from augmentoolkit.control_flow_functions.original_shape import write_original_shapes
from augmentoolkit.control_flow_functions.split import write_split
from augmentoolkit.records import Conversation, QAPair

if TYPE_CHECKING:  # pipeline.py imports this module
    from augmentoolkit.pipeline import PipelineRun


def export_run(run: PipelineRun) -> list[Path]:
    """Write the datasets of `run`'s output folder; the dataset files written."""
    written = [0]

    def conversations() -> Iterator[Conversation]:
        for conversation in run._kept_items(Conversation):
            written[0] += 1
            yield conversation

    dedup = DuplicateFilter(run.config.SYSTEM.DEDUP_THRESHOLD)
    paths = write_datasets(conversations(), run._kept_items(QAPair), run.output, dedup)
    run.counts.duplicates = dict(dedup.removed) if dedup.enabled else None  # for the report
    if dedup.enabled:
        run.tell(dedup.summary() + f", listed in {run.output / DUPLICATES_FILE}")
    sides = write_split(run.output, run.config.SYSTEM.EVAL_SHARE, run.config.SYSTEM.SEED)
    if sides:
        run.tell(
            f"split: {sides['train']} conversations for training, {sides['eval']} for "
            f"evaluation, in {run.output / 'split'} (no chunk or answer on both sides)"
        )
    if run.config.SYSTEM.HF_DATASET or run.config.SYSTEM.PUSH_TO_HUB:
        stages = [stage.name for stage in run.stages]
        for said in export_for_hub(run.config, stages, sides, dedup.removed):
            run.tell(said)
    if run.config.SYSTEM.META_DATAGEN:
        write_meta_datagen(run.ctx.store, run.output / "meta_datagen")
    if run.config.SYSTEM.OUTPUT_SHAPE == "original":
        shaped = write_original_shapes(
            run._kept_items(Conversation), run.output, run.output / DUPLICATES_FILE
        )
        run.tell(f"the original's shapes: {', '.join(str(path) for path in shaped)}")
    written[0] -= dedup.removed["conversation"]
    count = f"{written[0]} conversation{'' if written[0] == 1 else 's'}"
    run.tell(f"wrote {count} to " + ", ".join(str(p) for p in paths))
    return paths
