"""Augmentoolkit: raw texts in, validated instruct-tuning conversations out.

The public surface is small: `load_config`, `run_pipeline` and `PipelineRun` (one method per stage,
for notebooks). See augmentoolkit/pipeline.py for the stages in order.

They are imported on first use, so `import augmentoolkit.cli` (the `augmentoolkit` command) loads
only the standard library until it has set up its signal handling.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from augmentoolkit.config import Config, load_config
    from augmentoolkit.pipeline import PipelineRun, run_pipeline

__all__ = ["Config", "PipelineRun", "load_config", "run_pipeline"]
_HOMES = {
    "Config": "augmentoolkit.config",
    "load_config": "augmentoolkit.config",
    "PipelineRun": "augmentoolkit.pipeline",
    "run_pipeline": "augmentoolkit.pipeline",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'augmentoolkit' has no attribute {name!r}")
