"""Augmentoolkit: raw texts in, validated instruct-tuning conversations out.

The public surface is small: `load_config`, `run_pipeline` and `PipelineRun` (one method per stage,
for notebooks). See augmentoolkit/pipeline.py for the stages in order.
"""

from augmentoolkit.config import Config, load_config
from augmentoolkit.pipeline import PipelineRun, run_pipeline

__all__ = ["Config", "PipelineRun", "load_config", "run_pipeline"]
