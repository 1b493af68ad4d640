"""EngineWrapper: one async call that sends a rendered prompt to a model and returns its text.

MODE `api` talks to any OpenAI-compatible server through `openai.AsyncOpenAI` (chat messages
or one completion string). MODE `aphrodite` runs the in-process AsyncAphrodite engine; it is
imported only in that mode and needs Linux with a CUDA GPU, so it cannot run (or be tested
beyond its argument mapping and error paths) on machines without one.

The wrapper owns, in one place each:
- where a request goes and how many run at once: an EndpointPool (endpoints.py) over one backend
  per API.BASE_URL entry, each with an adaptive limit (at most `concurrency`, cut on bursts of
  429s, paused by Retry-After) and a cool-down when it keeps failing; `pool.slot()` acquires
  and releases every request;
- retries: 429, 5xx, timeouts and dropped connections are retried with exponential backoff and
  jitter, at most `max_retries` times, on whichever endpoint has room (a Retry-After pause keeps
  the retry off that endpoint until it ends); other errors are not retried;
- giving up early: a wrong model name, a refused key, or FAILURE_STREAK_LIMIT requests in a row
  that fail after all their retries (a dead server) raise EngineUnavailable, which stops the run;
- stop sequences: none when `send_stop` is False; otherwise at most 4 are sent (a common
  provider limit) and all of them are applied to the reply locally;
- token usage per model, its cost at the configured prices, and the optional budget cap, which
  is never overshot: before a request is sent its worst case is reserved (every byte of the
  prompt a token, plus the reply's max_tokens, at the model's prices), and a request whose
  worst case would take the cost past the budget is not sent: BudgetReached stops the run. Under
  the Ray executor `spent_elsewhere` adds what the other workers spent (ray_actors.py keeps it
  current through `on_spend`), and `pool` may be a GatewayPool, whose slots a cluster-wide
  gateway grants.
It never logs or stores the API key. It does not parse replies; GenerationStep does.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import re
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import openai

from augmentoolkit.config import Secret
from augmentoolkit.errors import BudgetReached, EngineError, EngineUnavailable, PromptTooLong
from augmentoolkit.generation_functions.endpoints import (
    COOLDOWN,
    Endpoint,
    EndpointPool,
    TransientError,
)
from augmentoolkit.generation_functions.prompts import RenderedPrompt

log = logging.getLogger(__name__)

MAX_STOPS_SENT = 4
# Requests in a row that fail even after their retries before the run is stopped as hopeless.
FAILURE_STREAK_LIMIT = 5
STEP_HEADER = "X-Augmentoolkit-Step"
# Placeholder for servers that want no key; the openai client refuses an empty one.
NO_KEY = "no-key-needed"


@dataclass(frozen=True)
class Sampling:
    """Sampling settings of one step; part of every cache key."""

    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 1500
    stop: tuple[str, ...] = ()
    grammar: str = ""  # GBNF the reply must follow; sent only to servers that take it (llama.cpp)
    seed: int | None = None  # set per call from its cache key, so a server that honours it repeats

    def fingerprint(self) -> str:
        text = f"t={self.temperature};p={self.top_p};m={self.max_tokens};s={list(self.stop)!r}"
        if self.grammar:  # absent from unconstrained keys, so those stay as they were
            text += ";g=" + hashlib.sha256(self.grammar.encode()).hexdigest()[:16]
        return text


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


def dollars(
    prices: dict[str, tuple[float, float]],
    model: str,
    prompt_tokens: float,
    completion_tokens: float,
) -> float:
    """What these tokens of `model` cost at `prices` (USD per million prompt, completion
    tokens); nothing for a model without a price. Example: ({"m": (1.0, 2.0)}, "m", 10**6, 0)
    -> 1.0."""
    input_price, output_price = prices.get(model, (0.0, 0.0))
    return (prompt_tokens * input_price + completion_tokens * output_price) / 1_000_000


@dataclass
class ModelUsage:
    """Counters for one model."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    failures: int = 0


class Backend(Protocol):
    async def complete(
        self, prompt: RenderedPrompt, model: str, sampling: Sampling, stop: list[str], step: str
    ) -> Completion: ...

    async def close(self) -> None: ...


@dataclass
class RetryPolicy:
    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter; a Retry-After hint is a floor."""
        backoff = min(self.max_delay, self.base_delay * (2**attempt))
        jittered = random.uniform(backoff / 2, backoff)
        if retry_after is not None:
            return min(max(retry_after, jittered), max(self.max_delay, retry_after))
        return jittered


class SlotPool(Protocol):
    """Where requests get their slot: an EndpointPool in this process, or a gateway's grants."""

    endpoints: list[Endpoint[Backend]]

    def slot(self) -> AbstractAsyncContextManager[Endpoint[Backend]]: ...


class EngineWrapper:
    """Concurrency-limited, retrying access to a model served by one or more backends.

    `backend` is one backend or a list of them (one per endpoint); `concurrency` is the ceiling
    of each endpoint's adaptive limit; `cooldown` is how long a failing endpoint is first left
    out when others can take its requests.
    """

    def __init__(
        self,
        backend: Backend | Sequence[Backend],
        *,
        concurrency: int,
        send_stop: bool = True,
        retry: RetryPolicy | None = None,
        prices: dict[str, tuple[float, float]] | None = None,
        budget: float = 0.0,
        cooldown: float = COOLDOWN,
        large: tuple[Backend | Sequence[Backend], int] | None = None,
    ) -> None:
        small: SlotPool = _pool(backend, concurrency, cooldown)
        # "large" (writing conversations) shares the small role's pool unless it has servers
        # of its own (API.LARGE_BASE_URL): then their own pool, at their own ceiling.
        self.pools: dict[str, SlotPool] = {"small": small, "large": small}
        if large is not None:
            self.pools["large"] = _pool(large[0], large[1], cooldown)
        self.send_stop = send_stop
        self.retry = retry or RetryPolicy()
        self.usage: dict[str, ModelUsage] = {}
        self.prices = prices or {}  # model -> (USD per million prompt, completion tokens)
        self.budget = budget
        self.spent_elsewhere = 0.0  # by other workers of the same run (Ray executor)
        self.reserved = 0.0  # worst-case cost of the requests in flight
        self._reservations = 0  # how many (a float sum need not come back to exactly 0.0)
        self._released = asyncio.Event()  # set whenever a reservation ends
        self.on_spend: Callable[[], None] | None = None  # told after every answered request
        self._failures_in_a_row = 0
        self._stopped: EngineUnavailable | None = None

    @property
    def pool(self) -> SlotPool:
        """The small role's pool (the only one unless the large role has its own servers)."""
        return self.pools["small"]

    @property
    def endpoints(self) -> list[Endpoint[Backend]]:
        """Every endpoint of every role, each once."""
        pools = list({id(pool): pool for pool in self.pools.values()}.values())
        return [endpoint for pool in pools for endpoint in pool.endpoints]

    def cost(self) -> float:
        """Dollars spent so far at the configured prices."""
        return sum(
            dollars(self.prices, model, usage.prompt_tokens, usage.completion_tokens)
            for model, usage in self.usage.items()
        )

    def _check_budget(self, worst: float = 0.0) -> None:
        """BudgetReached when a request costing `worst` at most could take the spending (with
        what requests in flight may still cost) past COST.BUDGET."""
        spent = self.cost() + self.spent_elsewhere
        if self.budget and self._over_budget(worst):
            raise BudgetReached(
                f"the budget of ${self.budget:.2f} (COST.BUDGET) is spent (${spent:.2f}, and "
                "the next request could cost more than what is left). Finished calls are "
                "saved: raise COST.BUDGET and run again to resume."
            )

    async def _reserve(self, worst: float) -> None:
        """Set `worst` aside for a request; while requests in flight hold what is left, wait
        for them to end (they usually cost far less than their worst case)."""
        while self.budget and self._reservations and self._over_budget(worst):
            self._released.clear()
            await self._released.wait()
        self._check_budget(worst)
        self.reserved += worst
        self._reservations += 1

    def _over_budget(self, worst: float) -> bool:
        return self.cost() + self.spent_elsewhere + self.reserved + worst > self.budget

    def worst_cost(self, prompt: RenderedPrompt, model: str, sampling: Sampling) -> float:
        """The most a request can cost: every byte of its prompt a token (no tokenizer makes a
        token of less than a byte), a few per chat message, and max_tokens of reply."""
        if not self.budget:
            return 0.0
        if prompt.text is not None:
            prompt_tokens = len(prompt.text.encode("utf-8"))
        else:
            messages = prompt.messages or ()
            size = sum(len(m["content"].encode("utf-8")) + 8 for m in messages)
            prompt_tokens = size + 8
        return dollars(self.prices, model, prompt_tokens, sampling.max_tokens)

    async def generate(
        self,
        prompt: RenderedPrompt,
        model: str,
        sampling: Sampling,
        step: str = "",
        role: str = "small",
    ) -> Completion:
        """Send one prompt to the servers of `role`; retry transient failures; EngineError when
        retries run out."""
        usage = self.usage.setdefault(model, ModelUsage())
        stop_sent = list(sampling.stop[:MAX_STOPS_SENT]) if self.send_stop else []
        worst = self.worst_cost(prompt, model, sampling)
        where = ""
        for attempt in range(self.retry.max_retries + 1):
            if self._stopped is not None:
                raise self._stopped
            try:
                async with self.pools[role].slot() as endpoint:
                    where = endpoint.name
                    await self._reserve(worst)
                    usage.requests += 1
                    try:
                        completion = await endpoint.backend.complete(
                            prompt, model, sampling, stop_sent, step
                        )
                    finally:
                        self._reservations -= 1
                        self.reserved = self.reserved - worst if self._reservations else 0.0
                        self._released.set()
            except TransientError as error:
                if attempt == self.retry.max_retries:
                    usage.failures += 1
                    self._failures_in_a_row += 1
                    problem = (
                        f"{step or 'request'}: gave up after {attempt + 1} tries, last error: "
                        f"{error} (from {where}). Check that the server at API.BASE_URL is "
                        "up, or raise API.MAX_RETRIES / API.REQUEST_TIMEOUT."
                    )
                    if self._failures_in_a_row >= FAILURE_STREAK_LIMIT:
                        self._stopped = EngineUnavailable(
                            f"stopping early: {self._failures_in_a_row} requests in a row failed. "
                            + problem
                        )
                        raise self._stopped from None
                    raise EngineError(problem) from None
                usage.retries += 1
                # Retry-After pauses that endpoint in the pool; the retry may go to another.
                wait = self.retry.delay(attempt, None)
                log.info("%s: %s from %s; retry %d in %.1fs", step, error, where, attempt + 1, wait)
                await self.retry.sleep(wait)
                continue
            self._failures_in_a_row = 0
            usage.prompt_tokens += completion.prompt_tokens
            usage.completion_tokens += completion.completion_tokens
            if self.on_spend is not None:
                self.on_spend()
            return _apply_stops(completion, sampling.stop if self.send_stop else ())
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        for endpoint in self.endpoints:
            await endpoint.backend.close()


def _pool(backend: Backend | Sequence[Backend], ceiling: int, cooldown: float) -> SlotPool:
    backends = list(backend) if isinstance(backend, Sequence) else [backend]
    named = [(_label(b, i, len(backends)), b) for i, b in enumerate(backends)]
    return EndpointPool(named, ceiling=ceiling, cooldown=cooldown)


def _label(backend: Backend, index: int, count: int) -> str:
    """How messages name an endpoint: its URL if it has one, else its place in the list."""
    label = getattr(backend, "label", None)
    if isinstance(label, str) and label:
        return label
    return "the engine" if count == 1 else f"endpoint {index + 1}"


def public_url(url: str) -> str:
    """A URL safe to print: no user, password, query or fragment.
    Example: "http://u:pw@h:8000/v1?key=x" -> "http://h:8000/v1"."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _apply_stops(completion: Completion, stops: tuple[str, ...]) -> Completion:
    """Cut the text at the first stop sequence, for servers that got fewer than all of them."""
    text = completion.text
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    if cut < 0:
        return completion
    return Completion(text[:cut], completion.prompt_tokens, completion.completion_tokens, "stop")


# --- MODE api: any OpenAI-compatible server ---------------------------------------------------


class OpenAIBackend:
    """Chat or completion requests to one endpoint through openai.AsyncOpenAI; its own retries
    are off (EngineWrapper retries, on whichever endpoint has room)."""

    def __init__(self, base_url: str, api_key: Secret, timeout: float) -> None:
        self.label = public_url(base_url)
        self._settings = (base_url, api_key, timeout)
        self._client: openai.AsyncOpenAI | None = None

    @property
    def client(self) -> openai.AsyncOpenAI:
        """Made on first use: building one loads the system's CA certificates (about 40 ms),
        which a rerun served wholly from the store never needs."""
        if self._client is None:
            base_url, api_key, timeout = self._settings
            self._client = openai.AsyncOpenAI(
                api_key=api_key.reveal() or NO_KEY,
                base_url=base_url,
                timeout=timeout,
                max_retries=0,
            )
        return self._client

    async def complete(
        self, prompt: RenderedPrompt, model: str, sampling: Sampling, stop: list[str], step: str
    ) -> Completion:
        options: dict[str, Any] = {
            "model": model,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "extra_headers": {STEP_HEADER: step} if step else None,
        }
        if stop:
            options["stop"] = stop
        if sampling.grammar:
            options["extra_body"] = {"grammar": sampling.grammar}
        if sampling.seed is not None:
            options["seed"] = sampling.seed
        try:
            if prompt.messages is not None:
                chat = await self.client.chat.completions.create(
                    messages=list(prompt.messages),  # type: ignore[arg-type]
                    **options,
                )
                choice = chat.choices[0]
                text, usage, finish = choice.message.content or "", chat.usage, choice.finish_reason
            else:
                done = await self.client.completions.create(prompt=prompt.text or "", **options)
                first = done.choices[0]
                text, usage, finish = first.text or "", done.usage, first.finish_reason
        except Exception as error:
            # A server may echo the request's headers in its error text: never pass the key on.
            raise _classify(error, model, self._settings[1]) from None
        prompt_tokens = usage.prompt_tokens if usage else len(prompt.as_key_text()) // 4
        completion_tokens = usage.completion_tokens if usage else len(text) // 4
        return Completion(text, prompt_tokens, completion_tokens, str(finish or ""))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


# How OpenAI, vLLM, llama.cpp and others word a prompt that does not fit the context window.
TOO_LONG = re.compile(
    r"context (?:length|size|window)|context_length|maximum context|prompt is too long"
    r"|too many tokens|exceed_context_size|exceeds? the (?:\S+ ){0,2}context",
    re.IGNORECASE,
)


def _classify(error: Exception, model: str, key: Secret | None = None) -> Exception:
    """Map an openai error to TransientError (retry) or EngineUnavailable (stop the run); any
    text taken from the server has the key masked."""
    masked = key.mask if key is not None else (lambda text: text)
    if isinstance(error, openai.RateLimitError):
        return TransientError("429 rate limited", _retry_after(error.response), rate_limited=True)
    if isinstance(error, openai.APITimeoutError):
        return TransientError("request timed out")
    if isinstance(error, openai.APIConnectionError):
        return TransientError("connection failed or dropped")
    if isinstance(error, openai.APIStatusError) and error.status_code >= 500:
        return TransientError(f"server error {error.status_code}", _retry_after(error.response))
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return EngineUnavailable(
            f"the server refused the API key ({error.status_code}). Set API.API_KEY in "
            "config.yaml or AUGMENTOOLKIT_API_KEY / OPENAI_API_KEY in the environment."
        )
    if isinstance(error, openai.NotFoundError):
        return EngineUnavailable(
            f"the server answered 404 for model {model!r}. Check API.LOGICAL_MODEL / "
            "API.LARGE_LOGICAL_MODEL and that API.BASE_URL ends in /v1."
        )
    if isinstance(error, openai.APIStatusError) and TOO_LONG.search(error.message or ""):
        return PromptTooLong(
            f"the prompt is longer than the model's context ({error.status_code}: "
            f"{_short(masked(error.message))}). Lower SYSTEM.CHUNK_SIZE, or serve the model "
            "with a longer context."
        )
    if isinstance(error, openai.APIStatusError):
        return EngineUnavailable(
            f"the server rejected the request ({error.status_code}): "
            f"{_short(masked(error.message))}. "
            "Check the model name and SYSTEM.COMPLETION_MODE for this server."
        )
    if isinstance(error, ValueError | TypeError | KeyError | IndexError | AttributeError):
        return TransientError(f"malformed response: {_short(masked(str(error)))}")
    return TransientError(f"{type(error).__name__}: {_short(masked(str(error)))}")


def _retry_after(response: Any) -> float | None:
    try:
        value = response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, ValueError):
        return None


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- MODE aphrodite: in-process engine (Linux + CUDA GPU only; untestable on CPU machines) ---


def aphrodite_engine_args(
    model: str, quantization: str, max_model_len: int, dtype: str
) -> dict[str, Any]:
    """Keyword arguments for AsyncEngineArgs. Example: quantization "" -> None (no quantization)."""
    return {
        "model": model,
        "quantization": quantization or None,
        "max_model_len": max_model_len,
        "dtype": dtype,
        "disable_log_requests": True,
    }


class AphroditeBackend:
    """Runs completion prompts on an in-process AsyncAphrodite engine, streaming to the end.

    Not exercised on CPU machines: only the argument mapping and the error paths are tested.
    """

    def __init__(self, engine_args: dict[str, Any]) -> None:
        try:
            import torch
            from aphrodite import (
                AsyncAphrodite,
                AsyncEngineArgs,
                SamplingParams,
            )
        except ImportError as error:
            raise EngineError(
                f"MODE aphrodite needs the aphrodite-engine package ({error.name} is missing). "
                "Install it on a Linux machine with a CUDA GPU (pip install aphrodite-engine), "
                "or set SYSTEM.MODE: api and run a server such as vLLM or llama.cpp."
            ) from None
        if not torch.cuda.is_available():
            raise EngineError(
                "MODE aphrodite needs a CUDA GPU and none is visible. Use SYSTEM.MODE: api "
                "with an OpenAI-compatible server instead."
            )
        self._sampling_params = SamplingParams
        self.engine = AsyncAphrodite.from_engine_args(AsyncEngineArgs(**engine_args))
        self._counter = 0

    async def complete(
        self, prompt: RenderedPrompt, model: str, sampling: Sampling, stop: list[str], step: str
    ) -> Completion:
        if prompt.text is None:
            raise EngineError("MODE aphrodite runs completion prompts only.")
        params = self._sampling_params(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            stop=stop or None,
        )
        self._counter += 1
        final = None
        async for output in self.engine.generate(prompt.text, params, f"{step}-{self._counter}"):
            final = output
        if final is None or not final.outputs:
            raise TransientError("the engine returned no output")
        result = final.outputs[0]
        return Completion(
            result.text,
            len(final.prompt_token_ids or []),
            len(result.token_ids or []),
            str(result.finish_reason or ""),
        )

    async def close(self) -> None:
        return None
