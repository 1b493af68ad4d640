"""Prompt files: lookup with fallback, `$variable` substitution, rendering for chat or completion.

One file per step, `<name>.txt`, in the PROMPTS folder or else in DEFAULT_PROMPTS. A file is a
list of messages, each opened by a marker line of its own:

    <<system>>
    You write questions about texts.
    <<user>>
    Text: $chunk
    <<assistant>>
    Question 1: ...

Variables are `$name` or `${name}` (string.Template); write `$$` for a literal dollar sign in a
prompt file. Values are inserted in one pass, so source text full of braces, quotes, backslashes,
`$` or prompt-looking lines passes through verbatim. A variable the file uses but the caller
does not give raises PromptError naming it.

The same file renders to chat messages (chat mode) or to one completion string (completion mode):
the system message first, then each user turn under `### Instruction:` and each assistant turn
under `### Response:`, ending with an open `### Response:` for the model to continue.
The original Augmentoolkit's prompt files in the override folder are adopted as templates by
original_prompts.py (`PromptLibrary.originals`, one line each in `PromptLibrary.notices`).
Does not call any model.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

from augmentoolkit.errors import PromptError

ROLES = ("system", "user", "assistant")
MARKER = re.compile(r"^<<(system|user|assistant)>>[ \t]*$", re.MULTILINE)
INSTRUCTION_HEADER = "### Instruction:"
RESPONSE_HEADER = "### Response:"
# Stop sequences that end a completion-mode reply before the model writes the next turn itself.
COMPLETION_STOPS = (INSTRUCTION_HEADER, RESPONSE_HEADER)


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    path: Path
    messages: tuple[tuple[str, str], ...]  # (role, template text)
    # One user message that is the whole completion prompt, sent as it is (the original's .txt
    # prompts, original_prompts.py); completion mode only.
    raw_completion: bool = False

    @property
    def variables(self) -> set[str]:
        """Every variable the template uses."""
        found: set[str] = set()
        for _, text in self.messages:
            for match in string.Template.pattern.finditer(text):
                name = match.group("named") or match.group("braced")
                if name:
                    found.add(name)
        return found

    def fill(self, values: dict[str, str]) -> list[dict[str, str]]:
        """Substitute values into every message. Example: '$x!' with x='{a}' -> '{a}!'."""
        missing = sorted(self.variables - values.keys())
        if missing:
            raise PromptError(
                f"prompt '{self.name}' ({self.path}) uses {', '.join('$' + m for m in missing)} "
                "but the step gave no value for it. Remove the variable from the prompt file or "
                "use one of: " + ", ".join(sorted(values)) + "."
            )
        filled = []
        for role, text in self.messages:
            try:
                content = string.Template(text).substitute(values)
            except ValueError as error:
                raise PromptError(
                    f"prompt '{self.name}' ({self.path}) has a stray '$': {error}. "
                    "Write $$ for a literal dollar sign."
                ) from None
            filled.append({"role": role, "content": content})
        return filled


@dataclass(frozen=True)
class RenderedPrompt:
    """What is sent to the model: chat messages, or one completion string."""

    messages: tuple[dict[str, str], ...] | None
    text: str | None

    def as_key_text(self) -> str:
        """A stable text form of the prompt, for content hashing."""
        if self.text is not None:
            return self.text
        assert self.messages is not None
        return "\n".join(f"<<{m['role']}>>\n{m['content']}" for m in self.messages)


def parse_prompt_file(name: str, path: Path) -> PromptTemplate:
    """Read a prompt file into its messages; PromptError if it has no marker or no user turn."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PromptError(f"prompt '{name}' could not be read from {path}: {error}.") from None
    markers = list(MARKER.finditer(raw))
    if not markers or raw[: markers[0].start()].strip():
        raise PromptError(
            f"prompt '{name}' ({path}) must start with a <<system>>, <<user>> or <<assistant>> "
            "line. Add one above the first message."
        )
    messages = []
    for i, marker in enumerate(markers):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(raw)
        body = raw[marker.end() : end].strip("\n")
        messages.append((marker.group(1), body))
    if messages[-1][0] != "user":
        raise PromptError(
            f"prompt '{name}' ({path}) must end with a <<user>> message, the one the model "
            "answers. Move or add it at the end."
        )
    return PromptTemplate(name=name, path=path, messages=tuple(messages))


class PromptLibrary:
    """Finds prompt files: the override folder first, the defaults second, per file."""

    def __init__(self, override_dir: Path, default_dir: Path) -> None:
        self.override_dir = override_dir
        self.default_dir = default_dir
        self._cache: dict[str, PromptTemplate] = {}
        # Set by original_prompts.adopt_original_prompts: the original's files that fit a step,
        # one line per other file of the override folder, and steps whose override file is in
        # the original's layout but did not fit (their default is used).
        self.originals: dict[str, PromptTemplate] = {}
        self.notices: list[str] = []
        self.shadowed: set[str] = set()

    def locate(self, name: str) -> Path:
        skip = name in self.shadowed
        for folder in (self.default_dir,) if skip else (self.override_dir, self.default_dir):
            candidate = folder / f"{name}.txt"
            if candidate.is_file():
                return candidate
        raise PromptError(
            f"prompt '{name}.txt' is in neither PATH.PROMPTS ({self.override_dir}) nor "
            f"PATH.DEFAULT_PROMPTS ({self.default_dir}). Restore it in {self.default_dir} or "
            "point PATH.DEFAULT_PROMPTS at the shipped prompts/ folder."
        )

    def locate_file(self, filename: str) -> Path:
        """Any file of the prompt folders (e.g. the trait list), override first."""
        for folder in (self.override_dir, self.default_dir):
            if (folder / filename).is_file():
                return folder / filename
        raise PromptError(
            f"{filename} is in neither PATH.PROMPTS ({self.override_dir}) nor "
            f"PATH.DEFAULT_PROMPTS ({self.default_dir}). Restore it from the shipped prompts/."
        )

    def load(self, name: str) -> PromptTemplate:
        if name not in self._cache:
            original = self.originals.get(name)
            self._cache[name] = original or parse_prompt_file(name, self.locate(name))
        return self._cache[name]

    def check(self, names: list[str]) -> None:
        """Load every named prompt now, so a missing or broken file fails before any call."""
        problems = []
        for name in names:
            try:
                self.load(name)
            except PromptError as error:
                problems.append(str(error))
        if problems:
            raise PromptError("\n".join(problems))


def render(
    template: PromptTemplate, values: dict[str, str], completion_mode: bool, note: str = ""
) -> RenderedPrompt:
    """Fill the template and shape it for chat (messages) or completion (one string). A `note`
    (output_language.py) ends the last user message, after a blank line; none adds nothing."""
    messages = template.fill(values)
    if template.raw_completion:
        text = raw_completion(template, messages, note, completion_mode)
        return RenderedPrompt(messages=None, text=text)
    if note:
        messages[-1]["content"] = f"{messages[-1]['content']}\n\n{note}"
    if not completion_mode:
        return RenderedPrompt(messages=tuple(messages), text=None)
    return RenderedPrompt(messages=None, text=messages_to_completion(messages))


def messages_to_completion(messages: list[dict[str, str]]) -> str:
    """Flatten chat messages into one completion prompt ending with an open response header."""
    parts = []
    for message in messages:
        if message["role"] == "system":
            parts.append(message["content"])
        elif message["role"] == "user":
            parts.append(f"{INSTRUCTION_HEADER}\n{message['content']}")
        else:
            parts.append(f"{RESPONSE_HEADER}\n{message['content']}")
    parts.append(RESPONSE_HEADER + "\n")
    return "\n\n".join(parts)


def raw_completion(
    template: PromptTemplate, messages: list[dict[str, str]], note: str, completion_mode: bool
) -> str:
    """A verbatim completion prompt, filled; a `note` goes before its open response header.
    Chat mode cannot send one (original_prompts.py only picks them in completion mode)."""
    if not completion_mode or len(messages) != 1:
        raise PromptError(
            f"prompt '{template.name}' ({template.path}) is a completion prompt; it needs "
            "COMPLETION_MODE True."
        )
    text = messages[0]["content"]
    if not note:
        return text
    cut = text.rfind(RESPONSE_HEADER)
    return text if cut < 0 else f"{text[:cut]}{note}\n\n{text[cut:]}"
