"""The original Augmentoolkit's prompt files in an override folder (PATH.PROMPTS): used for the
matching step when they fit, else named in one line each. No file there is passed over silently.

The original kept each step as a completion prompt (`<name>.txt`: one text with `### Instruction:`
and `### Response:` turns, ending in an open response) and a chat prompt (`<name>.json`: a list
of {"role", "content"} messages), several in `_filenames` / `_no_filenames` variants, with
Python-format placeholders such as `{text}` (only the step's own argument names were
placeholders; every other brace was literal). As the original did, completion mode reads the
`.txt` (a `.json` also renders there), chat mode the `.json`, and USE_FILENAMES picks the variant.

A file is used for a step when (1) every placeholder it uses has a counterpart among the step's
values (`{text}` is `$chunk`, ...), and (2) the worked replies it shows the model are in a layout
the step's parser reads, so the model's replies will be too. Otherwise its line says why, and the
name to give a rewrite in this version's layout. A `.txt` is sent verbatim (its open response
included), exactly as the original sent it. Literal `\\n` and `\\"` in a `.json` (an artifact of
the original's JSON escaping) are read as a line break and a quote.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from augmentoolkit.errors import ParseError, PromptError
from augmentoolkit.generation_functions.original_prompt_files import (
    ORIGINAL_PROMPTS,
    PLACEHOLDER,
    OriginalFile,
    fill_placeholders,
    original_file,
    read_messages,
    worked_replies,
)
from augmentoolkit.generation_functions.prompts import MARKER, PromptLibrary, PromptTemplate

SNIPPET = 70

if TYPE_CHECKING:
    from augmentoolkit.config import Config
    from augmentoolkit.stages import Stage


class Step(Protocol):
    """What the check needs of a GenerationStep."""

    @property
    def name(self) -> str: ...

    @property
    def variables(self) -> frozenset[str]: ...

    @property
    def parser(self) -> Callable[[str], Any]: ...

    @property
    def validator(self) -> Callable[[Any], None] | None: ...


@dataclass(frozen=True)
class Settings:
    """What picks the original's file for a step, and which steps run."""

    use_filenames: bool
    completion_mode: bool
    steps: dict[str, Step]  # the steps this run uses, by name
    ours: frozenset[str]  # every file name of this version's prompt folder (any settings)
    default_dir: Path


def adopt_original_prompts(library: PromptLibrary, settings: Settings) -> None:
    """Give `library` the original's files that fit (as its steps' templates) and one notice per
    file of the override folder that is not this version's. PromptError when the defaults
    folder holds the original's prompts instead of this version's."""
    _check_default_folder(settings)
    library.originals, library.notices = {}, []
    override = library.override_dir
    if override.resolve() == settings.default_dir.resolve() and not _has_originals(
        override, settings.ours
    ):
        return
    candidates: dict[str, list[OriginalFile]] = {}
    for path in sorted(override.iterdir()) if override.is_dir() else []:
        found = _classify(path, settings)
        if isinstance(found, OriginalFile):
            candidates.setdefault(found.step, []).append(found)
        elif found:
            library.notices.append(f"{path}: {found}")
    for step, files in candidates.items():
        _choose(library, step, files, settings)
    library.notices.sort()  # by file


def _has_originals(folder: Path, ours: frozenset[str]) -> bool:
    """True when the folder holds a file of the original's (this version's own aside)."""
    return any(
        original_file(path) is not None and (path.name not in ours or not _ours_layout(path))
        for path in folder.iterdir()
    )


def _check_default_folder(settings: Settings) -> None:
    folder = settings.default_dir
    missing = [name for name in settings.steps if not (folder / f"{name}.txt").is_file()]
    if missing and folder.is_dir() and _has_originals(folder, settings.ours):
        raise PromptError(
            f"PATH.DEFAULT_PROMPTS ({folder}) holds the original Augmentoolkit's prompts, not "
            f"this version's ({', '.join(missing[:3])}... are missing). Point DEFAULT_PROMPTS at "
            "this version's prompts/ folder and PROMPTS at the folder of your own prompts."
        )


def _classify(path: Path, settings: Settings) -> OriginalFile | str:
    """An original's file, a line saying why a file is not read, or "" for one of ours."""
    name = path.name
    if name.startswith((".", "__")):
        return ""
    if path.is_dir():
        return "a folder: prompt folders are read at their top level only, so it is not read."
    found = original_file(path)
    if found is not None and (name not in settings.ours or not _ours_layout(path)):
        return found
    if name in settings.ours:
        return ""
    return _unknown(name, settings)


def _ours_layout(path: Path) -> bool:
    """True when a file starts with a <<role>> marker, as this version's prompts do."""
    try:
        head = path.read_text(encoding="utf-8").lstrip()
    except (OSError, UnicodeDecodeError):
        return True  # let the library's own check report it
    first = MARKER.match(head)
    return first is not None


def _unknown(name: str, settings: Settings) -> str:
    known = sorted(settings.ours | {f"{base}.json" for base in ORIGINAL_PROMPTS})
    nearest = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    hint = f" Did you mean {nearest[0]}?" if nearest else ""
    return (
        "not a prompt of this version (named like judge_chunk.txt) or of the original (named "
        f"like judge_paragraph_no_filenames.json), so it is not read.{hint}"
    )


def _choose(library: PromptLibrary, step: str, files: list[OriginalFile], s: Settings) -> None:
    """Use the best fitting file for `step`; one line for each of them either way."""
    own = library.override_dir / f"{step}.txt"
    if own.is_file() and _ours_layout(own) and all(f.path != own for f in files):
        shared = library.override_dir.resolve() == s.default_dir.resolve()
        hint = " (give your prompts a folder of their own as PATH.PROMPTS)" if shared else ""
        for file in files:
            library.notices.append(
                f"{file.path}: not used: {own.name}, this version's own prompt for {step}, is "
                f"in the same folder and is used{hint}."
            )
        return
    ranked = sorted(files, key=lambda file: _rank(file, s))
    chosen: OriginalFile | None = None
    lines: list[tuple[OriginalFile, str, bool]] = []  # (file, reason, did not fit)
    for file in ranked:
        reason = _why_not_eligible(file, s)
        if not reason and chosen is not None:
            reason = f"not used: {chosen.path.name} is used for {step}."
        misfit = False
        if not reason:
            reason, template = _convert(file, s.steps[step])
            misfit = template is None
            if template is not None:
                library.originals[step] = template
                chosen = file
        lines.append((file, reason, misfit))
    meanwhile = f"{chosen.path.name} is used" if chosen else "the shipped one is used"
    for file, reason, misfit in lines:
        library.notices.append(
            f"{file.path}: {reason}" + (f" Until then {meanwhile}." if misfit else "")
        )
    if any(f.path.name == f"{step}.txt" for f in files) and step not in library.originals:
        library.shadowed.add(step)  # an original-layout file under our name: the default is used


def _rank(file: OriginalFile, s: Settings) -> tuple[int, int]:
    variant = 0 if file.variant == ("filenames" if s.use_filenames else "no_filenames") else 1
    kind = 0 if (file.path.suffix == ".txt") == s.completion_mode else 1
    return (variant, kind)


def _why_not_eligible(file: OriginalFile, s: Settings) -> str:
    if file.step not in s.steps:
        return (
            f"not used: its step here, {file.step}, does not run with these settings "
            f"({ORIGINAL_PROMPTS[file.base].runs_when})."
        )
    wanted = "filenames" if s.use_filenames else "no_filenames"
    if file.variant not in (None, wanted):
        return (
            f"not used: USE_FILENAMES is {s.use_filenames}, so the {wanted} variant is read for "
            f"{file.step}, as in the original."
        )
    if file.path.suffix == ".txt" and not s.completion_mode:
        return (
            "not used: a completion prompt, and COMPLETION_MODE is False, so the chat prompt "
            f"({file.stem}.json) is read for {file.step}, as in the original."
        )
    return ""


def _convert(file: OriginalFile, step: Step) -> tuple[str, PromptTemplate | None]:
    """(the file's line, its template) when it fits the step; (the reason, None) otherwise."""
    rename = (
        f"Rewrite it in this version's layout as {step.name}.txt in PATH.PROMPTS (start from "
        f"the shipped prompts/{step.name}.txt)."
    )
    try:
        messages = read_messages(file)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return f"not used: {error}. {rename}", None
    mapping = ORIGINAL_PROMPTS[file.base].values
    used = sorted({n for _, text in messages for n in PLACEHOLDER.findall(text) if n in mapping})
    lacking = [name for name in used if mapping[name] not in step.variables]
    if lacking:
        names = ", ".join("{" + name + "}" for name in lacking)
        return f"not used: it uses {names}, which {step.name} has no value for. {rename}", None
    problem = _replies_problem(file, messages, step)
    if problem:
        return (
            f"not used: its worked replies are not in the layout {step.name}'s parser "
            f"reads ({problem}). {rename}",
            None,
        )
    template = _template(file, step.name, messages, mapping)
    shown = ", ".join(f"{{{name}}} as ${mapping[name]}" for name in used) or "no placeholders"
    unchecked = (
        ""
        if worked_replies(messages)
        else f"; it shows no worked reply, so make sure it asks for {step.name}'s reply layout"
    )
    return f"the original's prompt, used for {step.name} ({shown}){unchecked}.", template


def _replies_problem(file: OriginalFile, messages: list[tuple[str, str]], step: Step) -> str:
    """The first worked reply the step's parser cannot read, as a short reason; "" if none."""
    for reply in worked_replies(messages):
        try:
            value = step.parser(reply)
            if step.validator is not None:
                step.validator(value)
        except (ParseError, ValueError) as error:
            text = " ".join(str(error).split(": '", 1)[0].split())  # without the reply's text
            return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"
    return ""


def _template(
    file: OriginalFile, name: str, messages: list[tuple[str, str]], mapping: dict[str, str | None]
) -> PromptTemplate:
    converted = tuple((role, fill_placeholders(text, mapping)) for role, text in messages)
    if file.path.suffix == ".txt":
        return PromptTemplate(name, file.path, (("user", converted[0][1]),), raw_completion=True)
    return PromptTemplate(name, file.path, converted)


def adopt_for_run(library: PromptLibrary, config: Config, stages: Iterable[Stage]) -> None:
    """adopt_original_prompts with the settings of this config and stage table."""
    stages = tuple(stages)
    steps = {step.name: step for stage in stages for step in stage.needs(config)}
    ours: set[str] = set()
    for assistant_mode in (True, False):  # the only setting that changes the steps' names
        other = replace(config, SYSTEM=replace(config.SYSTEM, ASSISTANT_MODE=assistant_mode))
        ours |= {f"{step.name}.txt" for stage in stages for step in stage.needs(other)}
        ours |= {name for stage in stages for name in stage.files(other)}
    settings = Settings(
        config.SYSTEM.USE_FILENAMES,
        config.SYSTEM.COMPLETION_MODE,
        dict(steps),
        frozenset(ours),
        config.PATH.DEFAULT_PROMPTS,
    )
    adopt_original_prompts(library, settings)
