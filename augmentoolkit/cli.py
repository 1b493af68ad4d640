"""The `augmentoolkit` command, installed with the package; `python processing.py` is its `run`.

    augmentoolkit run [--config FILE] [--preview N]    the pipeline (as processing.py)
    augmentoolkit check [--config FILE] [--offline]    config, prompts, and one tiny request
                                                       to each endpoint (`run --check` too)
    augmentoolkit estimate [--config FILE]             chunks and the cost estimate; no call
    augmentoolkit report [--config FILE] [--output DIR]   run_report.md rebuilt from a folder
    augmentoolkit export [--config FILE] [--output DIR] [--min-score S]
                                                       the datasets rewritten from a folder
    augmentoolkit convert FILE_OR_DIR... [--out DIR]   PDFs (.docx, .html, .epub, .md) to text

Exit statuses (augmentoolkit/errors.py): 0 done; 1 stopped (and `check`: an endpoint did not
answer); 2 config, prompt or input problem; 3 incomplete; 4 output folder in use; 130
interrupted. Every error is one line on stderr.

This module loads only the standard library: `load_package` sets SIGTERM to end a run like
Ctrl-C before importing the rest (a second), so both end with the one "interrupted" line even
then. The subcommands themselves are in augmentoolkit/commands.py.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from types import FrameType

INTERRUPTED = "interrupted: finished calls are saved; run the same command again to resume."
SUBCOMMANDS = {
    "run": "run the pipeline (what python processing.py does)",
    "check": "validate the config and prompts, and send each endpoint one tiny request",
    "estimate": "chunk the inputs and estimate calls, tokens and cost; no model call",
    "report": "rebuild run_report.md from an output folder; no model call",
    "export": "rewrite the datasets from an output folder's stage folders; no model call",
    "convert": "convert PDFs (and .docx, .html, .epub, .md) to text (convert --help)",
}


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (kill, a scheduler, a container stop) ends the run like Ctrl-C."""
    raise KeyboardInterrupt


def load_package() -> None:
    """Handle SIGTERM like Ctrl-C, then import the package; Ctrl-C meanwhile exits 130."""
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:  # the imports take a second: Ctrl-C during them is still a clean interruption
        importlib.import_module("augmentoolkit.commands")
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)


def positive(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="config.yaml", help="config file (default config.yaml)")


def add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", help="the output folder (default: PATH.OUTPUT of the config)")


def score(text: str) -> float:
    """argparse type: a number above 0 and at most 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number above 0 and at most 1")
    return value


def add_min_score(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-score",
        type=score,
        metavar="S",
        help="keep the pairs whose stored validation votes score at least S (the share of "
        "votes that passed, lowest over the checks): 1.0 keeps only unanimous pairs; default: "
        "the pairs the run kept",
    )


def add_probe_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--offline", action="store_true", help="with --check: send no request to any endpoint"
    )
    parser.add_argument(
        "--probe-embedded",
        action="store_true",
        help="with --check: start the embedded model to probe it too (a few seconds)",
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument(
        "--check",
        action="store_true",
        help="validate the config and prompts and send each endpoint one tiny request, then "
        "exit (touches no output folder)",
    )
    choice.add_argument(
        "--preview",
        type=positive,
        default=0,
        metavar="N",
        help="run the whole pipeline on N chunks into OUTPUT/preview and print the conversations",
    )
    add_probe_options(parser)
    parser.add_argument("--verbose", action="store_true", help="log retries and step details")


def run_parser(description: str, prog: str | None = None) -> argparse.ArgumentParser:
    """The options of processing.py and `augmentoolkit run`."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_run_options(parser)
    return parser


def check_run_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if (args.offline or args.probe_embedded) and not args.check:
        parser.error("--offline and --probe-embedded go with --check")


def main_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="augmentoolkit",
        description="Turn texts into validated instruct-tuning conversations.",
        epilog="Exit statuses: 0 done, 1 stopped, 2 config/prompt/input problem, 3 incomplete, "
        "4 output folder in use, 130 interrupted.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary, add_help=True)
        if name == "run":
            add_run_options(sub)
        elif name == "check":
            add_config(sub)
            add_probe_options(sub)
            sub.set_defaults(check=True, preview=0, verbose=False)
        elif name in ("estimate", "report", "export"):
            add_config(sub)
            if name != "estimate":
                add_output(sub)
            if name == "export":
                add_min_score(sub)
    return parser


def run_command(args: argparse.Namespace) -> int:
    """processing.py's main: the run (or --check, --preview), errors as one line."""
    from augmentoolkit import commands

    return commands.guarded(lambda: commands.run(args))


def main(argv: list[str] | None = None) -> int:
    """The `augmentoolkit` console command."""
    load_package()
    from augmentoolkit import commands

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["convert"]:  # its own options, help and messages
        return commands.convert(argv[1:])
    parser = main_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        check_run_args(parser, args)
    return commands.guarded(lambda: commands.COMMANDS[args.command](args))
