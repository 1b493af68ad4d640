"""What each subcommand of the `augmentoolkit` command does (augmentoolkit/cli.py parses them;
processing.py is `run`). Every one turns the package's errors into one line on stderr and its
exit status (`guarded`); the work lives in pipeline.py, probe.py, preview.py and offline.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from augmentoolkit.cli import INTERRUPTED
from augmentoolkit.config import Config, load_config
from augmentoolkit.context import check_prompts
from augmentoolkit.errors import AugmentoolkitError, EngineUnavailable, explain_os_error
from augmentoolkit.generation_functions.prompts import PromptLibrary
from augmentoolkit.offline import estimate as estimate_lines
from augmentoolkit.offline import export as export_datasets
from augmentoolkit.offline import rebuild_report
from augmentoolkit.pipeline import run_pipeline
from augmentoolkit.preview import preview
from augmentoolkit.probe import describe, probe_endpoints, problem
from augmentoolkit.run_log import setup_logging
from augmentoolkit.stages import STAGES


def guarded(action: Callable[[], int]) -> int:
    """Run a command; an error becomes one line on stderr and its exit status."""
    try:
        return action()
    except AugmentoolkitError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_status
    except (OSError, sqlite3.Error) as error:  # a full disk, a folder we may not write
        explained = explain_os_error(error)
        print(f"error: {explained}", file=sys.stderr)
        return explained.exit_status
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130


def check_only(config: Config) -> None:
    """Validate the config and every prompt the stage table will use; show the table. Touches
    neither the OUTPUT folder nor any server."""
    prompts = PromptLibrary(config.PATH.PROMPTS, config.PATH.DEFAULT_PROMPTS)
    check_prompts(prompts, config, STAGES)
    for notice in (*config.notices, *prompts.notices):
        print(f"notice: {notice}", file=sys.stderr)
    if config.SYSTEM.EXECUTOR == "ray":
        check_cluster(config)
    print(f"{config.source}: config and prompts are valid. The stages, in run order:")
    for stage in STAGES:
        needs = ", ".join(step.name for step in stage.needs(config)) or "no model call here"
        print(f"  {stage.name} ({needs}) -> {stage.path}")


def check_cluster(config: Config) -> None:
    """With EXECUTOR ray: Ray is installed and the cluster's address answers (nothing started;
    ClusterUnavailable, exit 2, otherwise)."""
    from augmentoolkit.ray_run import check_reachable, cluster_address, import_ray

    import_ray()
    address = cluster_address(config.SYSTEM.RAY_ADDRESS)
    check_reachable(address)
    where = f"the cluster at {address} answers" if address else "a local Ray starts for the run"
    print(f"Ray: {where}")


def check(config: Config, offline: bool = False, probe_embedded: bool = False) -> int:
    """check_only, then (unless offline) one tiny request per endpoint and model; exit 1 with
    one line when a model does not answer, or API.GRAMMARS sends grammars a server ignores."""
    check_only(config)
    if offline:
        return 0
    probes = asyncio.run(probe_endpoints(config, probe_embedded))
    print("\n".join(describe(config, probes)), flush=True)
    trouble = problem(config, probes)
    if trouble:
        raise EngineUnavailable(trouble)
    return 0


def run(args: argparse.Namespace) -> int:
    """processing.py: the run, or --check, or --preview N."""
    config = load_config(args.config)
    if args.check:
        return check(config, args.offline, args.probe_embedded)
    if args.preview:
        return preview(config, args.preview, args.verbose)
    setup_logging(config.PATH.OUTPUT, args.verbose)
    paths = asyncio.run(run_pipeline(config))
    sharegpt = next(p for p in paths if p.name == "simplified_data.jsonl")
    print(f"done: dataset in {sharegpt}")
    return 0


def estimate(args: argparse.Namespace) -> int:
    print("\n".join(estimate_lines(load_config(args.config))))
    return 0


def with_output(args: argparse.Namespace) -> Config:
    """The config, with PATH.OUTPUT replaced by --output when given."""
    config = load_config(args.config)
    if not args.output:
        return config
    return replace(config, PATH=replace(config.PATH, OUTPUT=Path(args.output).resolve()))


def report(args: argparse.Namespace) -> int:
    print(f"done: run report in {rebuild_report(with_output(args))}")
    return 0


def export(args: argparse.Namespace) -> int:
    paths = export_datasets(with_output(args), args.min_score)
    sharegpt = next(p for p in paths if p.name == "simplified_data.jsonl")
    print(f"done: dataset in {sharegpt}")
    return 0


def convert(argv: list[str]) -> int:
    """convert_pdf_to_text.py's own command line."""
    import convert_pdf_to_text

    return convert_pdf_to_text.main(argv)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": run,
    "check": run,
    "estimate": estimate,
    "report": report,
    "export": export,
}
