"""Augmentoolkit: turn the texts in raw_txt_input/ into a validated conversation dataset.

    python processing.py                      # run with ./config.yaml
    python processing.py --config my.yaml     # run with another config file
    python processing.py --check              # validate config and prompts, make no model call

What runs, in order (the model stages are the rows of augmentoolkit/stages.py, the one place
the pipeline is declared):

    1. read and chunk          raw_txt_input/ -> chunks/
    2. judge chunks            -> worthy_for_questions/
    3. generate questions      -> qatuples_raw/
    4. validate pairs          -> qatuples_validated/
    5. repair context          -> qatuples_revised/
    6. plan conversations      -> multi_turn_convs_info/
    7. write conversations     -> multi_turn_convs/
    8. export                  -> master_list.jsonl, simplified_data.jsonl, ... in OUTPUT

Each chunk's rows are appended to a stage's folder as soon as the chunk finishes that stage.
Rerunning resumes: every finished model call is stored under OUTPUT/store and never paid for
twice. This file loads the config, sets up logging, runs the stages and turns errors into one
readable message.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sqlite3
import sys
from types import FrameType

INTERRUPTED = "interrupted: finished calls are saved; run the same command again to resume."


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (kill, a scheduler, a container stop) ends the run like Ctrl-C."""
    raise KeyboardInterrupt


signal.signal(signal.SIGTERM, stop_on_sigterm)
try:  # the imports take a second: Ctrl-C during them is still a clean interruption
    from augmentoolkit.config import Config, load_config
    from augmentoolkit.context import check_prompts
    from augmentoolkit.errors import AugmentoolkitError, explain_os_error
    from augmentoolkit.generation_functions.prompts import PromptLibrary
    from augmentoolkit.pipeline import run_pipeline
    from augmentoolkit.run_log import setup_logging
    from augmentoolkit.stages import STAGES
except KeyboardInterrupt:
    print(INTERRUPTED, file=sys.stderr)
    sys.exit(130)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config.yaml", help="config file (default config.yaml)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="validate the config and prompts, then exit without any model call",
    )
    parser.add_argument("--verbose", action="store_true", help="log retries and step details")
    return parser.parse_args(argv)


def check_only(config: Config) -> None:
    """Validate the config and every prompt the stage table will use; show the table. Touches
    neither the OUTPUT folder nor any server."""
    prompts = PromptLibrary(config.PATH.PROMPTS, config.PATH.DEFAULT_PROMPTS)
    check_prompts(prompts, config, STAGES)
    print(f"{config.source}: config and prompts are valid. The stages, in run order:")
    for stage in STAGES:
        needs = ", ".join(step.name for step in stage.needs(config)) or "no model call here"
        print(f"  {stage.name} ({needs}) -> {stage.path}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args.config)
        if args.check:
            check_only(config)
            return 0
        setup_logging(config.PATH.OUTPUT, args.verbose)
        paths = asyncio.run(run_pipeline(config))
    except AugmentoolkitError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_status
    except (OSError, sqlite3.Error) as error:  # a full disk, a folder we may not write
        problem = explain_os_error(error)
        print(f"error: {problem}", file=sys.stderr)
        return problem.exit_status
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    sharegpt = next(p for p in paths if p.name == "simplified_data.jsonl")
    print(f"done: dataset in {sharegpt}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
