"""Augmentoolkit: turn the texts in raw_txt_input/ into a validated conversation dataset.

    python processing.py                      # run with ./config.yaml
    python processing.py --config my.yaml     # run with another config file
    python processing.py --check              # validate config and prompts, make no model call

The stages, in order, live in augmentoolkit/pipeline.py; this file only loads the config, sets up
logging, runs them and turns errors into one readable message. Rerunning resumes: every finished
model call is stored under OUTPUT/store and never paid for twice.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from augmentoolkit.config import Config, load_config
from augmentoolkit.errors import AugmentoolkitError
from augmentoolkit.pipeline import build_context, run_pipeline


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


def setup_logging(output: Path, verbose: bool) -> None:
    """Warnings (or everything with --verbose) to stderr; everything to OUTPUT/run.log."""
    output.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(output / "run.log", encoding="utf-8")
    to_file.setLevel(logging.DEBUG)
    to_screen = logging.StreamHandler(sys.stderr)
    to_screen.setLevel(logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(
        level=logging.DEBUG,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[to_file, to_screen],
    )
    for noisy in ("httpx", "httpx2", "openai", "httpcore", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def check_only(config: Config) -> None:
    ctx = build_context(config)
    asyncio.run(ctx.engine.close())
    print(f"{config.source}: config and prompts are valid.")


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
    except KeyboardInterrupt:
        print(
            "interrupted: finished calls are saved; run the same command again to resume.",
            file=sys.stderr,
        )
        return 130
    sharegpt = next(p for p in paths if p.name == "simplified_data.jsonl")
    print(f"done: dataset in {sharegpt}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
