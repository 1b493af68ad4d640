"""GenerationStep: render → cached? → generate → parse, the one abstraction every LLM stage uses.

A step names its prompt file, its parser (reply text → value, raising ParseError), an optional
validator (value → None, raising ParseError), its sampling settings, which model role runs it,
and optionally its reply layout as a grammar, sent when the server can constrain decoding:
`run(ctx, values)` returns a StepResult and never raises for a bad reply:

- a cached result (same step, rendered prompt, model, sampling, salt) is returned with no call;
- a reply that fails to parse or validate is retried up to `ctx.parse_retries` more times;
- after the last try the item is stored as a permanent failure, with every reason, and
  returned as `ok=False` (never a silent None, never a crash of the run);
- a request the engine gave up on (server down) is NOT stored, so a rerun tries it again.

The store keeps completions, not parsed values: a cache hit re-parses the stored completion,
so improving a parser can turn stored failures into successes without paying again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Literal, TypeVar

from augmentoolkit.errors import EngineError, EngineUnavailable, ParseError, PromptTooLong
from augmentoolkit.generation_functions.engine_wrapper import EngineWrapper, Sampling
from augmentoolkit.generation_functions.output_language import language_note
from augmentoolkit.generation_functions.prompts import (
    COMPLETION_STOPS,
    PromptLibrary,
    RenderedPrompt,
    render,
)
from augmentoolkit.generation_functions.store import CallUsage, Store, call_key

log = logging.getLogger(__name__)

T = TypeVar("T")
Role = Literal["small", "large"]


@dataclass
class StepStats:
    """What one step did in this run."""

    requests: int = 0  # model calls made (cache hits excluded)
    cache_hits: int = 0
    parse_failures: int = 0  # replies that did not parse (each one retried or final)
    successes: int = 0
    failures: int = 0  # items recorded as permanent failures
    engine_failures: int = 0  # items lost to a server that kept failing (not stored)
    tokens: int = 0  # prompt + completion tokens of this step's requests


@dataclass
class GenerationContext:
    """Everything a step needs to run: engine, prompts, store, models, mode and counters."""

    engine: EngineWrapper
    prompts: PromptLibrary
    store: Store
    models: dict[str, str]  # role -> model name
    completion_mode: bool
    parse_retries: int = 2
    grammars: bool = False  # constrain replies to each step's layout (the server takes GBNF)
    output_language: str = ""  # SYSTEM.OUTPUT_LANGUAGE; "": the source text's (output_language.py)
    stats: dict[str, StepStats] = field(default_factory=dict)

    def stats_for(self, step: str) -> StepStats:
        return self.stats.setdefault(step, StepStats())


@dataclass
class ItemTrace:
    """What happened to the calls made for one item (a chunk's flow): a call the engine gave up
    on is not stored, so the item's rows are not final and a rerun must redo it."""

    engine_failures: int = 0
    too_long: list[str] = field(default_factory=list)  # steps whose prompt outgrew the context


# Set at the top of each chunk's task; asyncio copies it into every task the flow starts.
CURRENT_ITEM: ContextVar[ItemTrace | None] = ContextVar("CURRENT_ITEM", default=None)


@dataclass(frozen=True)
class StepResult(Generic[T]):
    ok: bool
    value: T | None
    errors: tuple[str, ...]
    cached: bool
    key: str

    @property
    def error(self) -> str:
        return self.errors[-1] if self.errors else ""


def call_seed(key: str, attempt: int) -> int:
    """A sampling seed for one try of one call: the same on every run, new on each retry, so a
    server that honours seeds gives a rerun the same replies. Example: ('ab12…', 0) -> 2863…"""
    return int(hashlib.sha256(f"{key}:{attempt}".encode()).hexdigest()[:8], 16)


def finished_part(text: str, finish_reason: str) -> str:
    """What a parser may read of a reply: one cut off at the token limit loses its last line,
    which the limit left unfinished (a half answer would otherwise pass for a whole one).
    Example: ('Q: a?\nA: half of', 'length') -> 'Q: a?'; ('x', 'stop') -> 'x'."""
    if finish_reason != "length":
        return text
    return text.rsplit("\n", 1)[0] if "\n" in text else ""


@dataclass(frozen=True)
class GenerationStep(Generic[T]):
    name: str  # also the prompt file name
    parser: Callable[[str], T]
    sampling: Sampling = Sampling()
    role: Role = "small"
    validator: Callable[[T], None] | None = None
    grammar: str = ""  # the reply layout as GBNF (grammars.py), used when ctx.grammars is on
    # The values the step's prompt is filled with, declared so --check can render every prompt
    # before a call is paid for; run() refuses other values (the declaration cannot drift).
    variables: frozenset[str] = frozenset()
    # What the step writes into the dataset ("the conversation"), asked for in the dataset's
    # language when that is not English; "" for steps whose replies only the pipeline reads.
    writes: str = ""

    def render(self, ctx: GenerationContext, values: dict[str, str]) -> RenderedPrompt:
        note = language_note(self.writes, ctx.output_language, values)
        return render(ctx.prompts.load(self.name), values, ctx.completion_mode, note)

    def sampling_for(self, ctx: GenerationContext) -> Sampling:
        """Completion mode adds the turn headers as stops so the model cannot write both sides;
        with ctx.grammars the reply is also held to the step's layout."""
        sampling = self.sampling
        if ctx.completion_mode:
            stops = tuple(dict.fromkeys(COMPLETION_STOPS + sampling.stop))
            sampling = replace(sampling, stop=stops)
        if ctx.grammars and self.grammar:
            sampling = replace(sampling, grammar=self.grammar)
        return sampling

    async def run(
        self, ctx: GenerationContext, values: dict[str, str], salt: str = ""
    ) -> StepResult[T]:
        if self.variables and values.keys() != self.variables:
            raise ValueError(
                f"step {self.name} was given {sorted(values)} but declares {sorted(self.variables)}"
            )
        prompt = self.render(ctx, values)
        model = ctx.models[self.role]
        sampling = self.sampling_for(ctx)
        key = call_key(self.name, prompt.as_key_text(), model, sampling.fingerprint(), salt)
        stats = ctx.stats_for(self.name)
        store = ctx.store.step(self.name)
        record = store.get(key)
        if record is not None:
            stats.cache_hits += 1
            return self._from_record(record, key)
        errors: list[str] = []
        completions: list[str] = []
        finishes: list[str] = []
        spent = CallUsage()  # every try's requests and tokens, kept with the record
        asked = prompt  # after a reply that does not parse, the prompt plus why (chat mode)
        for attempt in range(ctx.parse_retries + 1):
            try:
                stats.requests += 1
                seeded = replace(sampling, seed=call_seed(key, attempt))
                completion = await ctx.engine.generate(asked, model, seeded, self.name, self.role)
            except EngineUnavailable:
                raise
            except PromptTooLong as error:  # retrying cannot help; not stored: a longer
                stats.failures += 1  # context on the server would let a rerun try again
                trace = CURRENT_ITEM.get()
                if trace is not None:
                    trace.too_long.append(self.name)
                return StepResult(False, None, (*errors, str(error)), False, key)
            except EngineError as error:
                stats.engine_failures += 1
                trace = CURRENT_ITEM.get()
                if trace is not None:
                    trace.engine_failures += 1
                return StepResult(False, None, (*errors, str(error)), False, key)
            completions.append(completion.text)
            finishes.append(completion.finish_reason)
            stats.tokens += completion.prompt_tokens + completion.completion_tokens
            spent = CallUsage(
                spent.requests + 1,
                spent.prompt_tokens + completion.prompt_tokens,
                spent.completion_tokens + completion.completion_tokens,
            )
            try:
                value = self._parse(finished_part(completion.text, completion.finish_reason))
            except ParseError as error:
                stats.parse_failures += 1
                errors.append(str(error))
                asked = with_feedback(prompt, completion.text, str(error))
                continue
            stats.successes += 1
            store.put(
                self._record(key, prompt, model, completions, finishes, errors, ok=True), spent
            )
            return StepResult(True, value, tuple(errors), False, key)
        stats.failures += 1
        store.put(self._record(key, prompt, model, completions, finishes, errors, ok=False), spent)
        log.debug("%s: permanent failure after %d tries: %s", self.name, len(errors), errors[-1])
        return StepResult(False, None, tuple(errors), False, key)

    def _parse(self, text: str) -> T:
        value = self.parser(text)
        if self.validator is not None:
            self.validator(value)
        return value

    def _from_record(self, record: dict[str, Any], key: str) -> StepResult[T]:
        """Re-parse stored completions, newest success first; the parser may have improved."""
        texts = record["completions"]
        finishes = record.get("finish_reasons") or [""] * len(texts)  # older records lack them
        for text, finish in reversed(list(zip(texts, finishes, strict=True))):
            try:
                value = self._parse(finished_part(text, finish))
                return StepResult(True, value, tuple(record["errors"]), True, key)
            except ParseError:
                continue
        return StepResult(False, None, tuple(record["errors"]), True, key)

    def _record(
        self,
        key: str,
        prompt: RenderedPrompt,
        model: str,
        completions: list[str],
        finishes: list[str],
        errors: list[str],
        ok: bool,
    ) -> dict[str, Any]:
        return {
            "key": key,
            "step": self.name,
            "ok": ok,
            "model": model,
            "prompt": list(prompt.messages) if prompt.messages is not None else prompt.text,
            "completions": completions,
            "finish_reasons": finishes,
            "errors": errors,
        }


FEEDBACK_LIMIT = 400  # characters of the failure's reason quoted back to the model
FEEDBACK_OPENING = "That reply could not be used:"


def with_feedback(prompt: RenderedPrompt, reply: str, reason: str) -> RenderedPrompt:
    """The prompt for a retry after `reply` failed to parse: in chat mode the failed reply and
    a turn saying why, so the model can correct itself (the cache key stays the first
    prompt's); a completion prompt is sent again unchanged, since a continued document has no
    place for a remark."""
    if prompt.messages is None:
        return prompt
    why = reason if len(reason) <= FEEDBACK_LIMIT else reason[:FEEDBACK_LIMIT] + "..."
    note = (
        f"{FEEDBACK_OPENING} {why}\nWrite the whole reply again, in exactly the layout asked for."
    )
    turns = ({"role": "assistant", "content": reply}, {"role": "user", "content": note})
    return RenderedPrompt(prompt.messages + turns, None)
