"""EngineWrapper: one async call that sends a rendered prompt to a model and returns its text.

The backends, one per file behind the `Backend` interface: openai_backend.py (MODE `api`, any
OpenAI-compatible server), aphrodite_backend.py (MODE `aphrodite`, in-process on a CUDA GPU) and
embedded_backend.py (the shipped small model behind a local server).

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
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from augmentoolkit.errors import BudgetReached, EngineError, EngineUnavailable
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
