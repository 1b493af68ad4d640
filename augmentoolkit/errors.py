"""The package's exceptions, few and documented as a tree.

    AugmentoolkitError          base: caught once at the top of processing.py, printed as one line
    ├── ConfigError             config.yaml is wrong; lists every problem and its fix (exit 2)
    ├── PromptError             a prompt file is missing, malformed, or lacks a variable
    ├── EngineError             the model failed for good after bounded retries
    │   ├── PromptTooLong       the server said the prompt exceeds the model's context: that
    │   │                       item fails, the run goes on
    │   └── EngineUnavailable   errors kept coming (dead server, wrong model): stop early
    │       └── BudgetReached   COST.BUDGET is spent: stop cleanly; rerun with a higher cap
    ├── ParseError              a model reply did not have the expected layout (a retryable failure)
    ├── InputError              input files are missing, unreadable or empty
    ├── PipelineEmpty           a stage dropped every item; says which stage and why
    ├── RunIncomplete           the server gave up on some chunks' calls: the datasets hold the
    │                           chunks that finished; a rerun finishes the rest (exit 3)
    ├── OutputInUse             another run holds PATH.OUTPUT (exit 4)
    ├── TooFewFiles             the open-file limit is below what CONCURRENCY_LIMIT needs (exit 2)
    └── ClusterUnavailable      EXECUTOR ray, but Ray is not installed or the cluster cannot be
                                reached (exit 2)

Exit statuses of processing.py: 0 done; 1 stopped (dead server, budget spent, a stage kept
nothing); 2 config, prompt or input problem; 3 incomplete (rerun to finish); 4 OUTPUT in use by
another run; 130 interrupted (Ctrl-C or SIGTERM).

Every message reads as problem plus fix.
"""

from __future__ import annotations

import errno
import sqlite3


class AugmentoolkitError(Exception):
    """Base of every error this package raises on purpose."""

    exit_status = 1


class ConfigError(AugmentoolkitError):
    """The configuration is invalid. `problems` holds one "KEY: problem. Fix." line each."""

    exit_status = 2

    def __init__(self, problems: list[str], source: str = "config.yaml") -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source} has {count} {noun}:\n{lines}")


class PromptError(AugmentoolkitError):
    """A prompt file is missing, malformed or needs a variable that was not given."""

    exit_status = 2


class EngineError(AugmentoolkitError):
    """A model call failed for good (after bounded retries) or the engine could not start."""


class PromptTooLong(EngineError):
    """The server refused a prompt as longer than the model's context. Only that item fails:
    other chunks fit, and retrying the same prompt cannot help."""


class EngineUnavailable(EngineError):
    """Errors kept coming, so the run stopped early instead of grinding through every item."""


class BudgetReached(EngineUnavailable):
    """The run's cost reached COST.BUDGET; finished calls are saved, so a rerun resumes."""


class ParseError(AugmentoolkitError):
    """A model reply lacked the expected layout. Retryable: the step asks again."""


class InputError(AugmentoolkitError):
    """The input folder or its files cannot be used."""

    exit_status = 2


class PipelineEmpty(AugmentoolkitError):
    """A stage dropped every item, so nothing is left to build a dataset from."""


class RunIncomplete(AugmentoolkitError):
    """Some chunks did not finish because the server gave up on their calls. Their rows are not
    written, so the datasets hold only what a clean run also writes; a rerun finishes them."""

    exit_status = 3


class OutputInUse(AugmentoolkitError):
    """Another run is writing to the same PATH.OUTPUT."""

    exit_status = 4


class TooFewFiles(AugmentoolkitError):
    """The process may not open as many files as SYSTEM.CONCURRENCY_LIMIT needs."""

    exit_status = 2


class ClusterUnavailable(AugmentoolkitError):
    """SYSTEM.EXECUTOR is ray, but Ray is not installed or its cluster does not answer."""

    exit_status = 2


def explain_os_error(
    error: OSError | sqlite3.Error, output: str = "PATH.OUTPUT"
) -> AugmentoolkitError:
    """One line for a file-system failure that escaped the stages, naming the path and the fix:
    a full disk, a folder the run may not write, too many open files.
    Example: OSError(ENOSPC) -> 'the disk holding ... is full. Free space, then run again ...'."""
    number = getattr(error, "errno", None)
    where = getattr(error, "filename", None) or output
    reason = getattr(error, "strerror", None) or str(error)
    text = str(error).lower()
    if number == errno.ENOSPC or "disk is full" in text:
        problem = AugmentoolkitError(
            f"the disk holding {where} is full. Free some space, then run the same command "
            "again: finished calls are saved."
        )
    elif number in (errno.EMFILE, errno.ENFILE):
        problem = AugmentoolkitError(
            "too many open files for this process. Lower SYSTEM.CONCURRENCY_LIMIT, or raise "
            "the limit (ulimit -n) before the run."
        )
        problem.exit_status = 2
    elif number in (errno.EACCES, errno.EPERM, errno.EROFS) or "readonly" in text:
        problem = AugmentoolkitError(
            f"cannot write {where} ({reason}). Make {output} a folder this user can write, or "
            "point PATH.OUTPUT elsewhere."
        )
        problem.exit_status = 2
    else:
        problem = AugmentoolkitError(
            f"{where}: {reason}. Check that {output} is a writable folder with free space."
        )
    return problem
