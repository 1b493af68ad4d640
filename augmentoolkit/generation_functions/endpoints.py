"""Endpoints: which server a request goes to, and how many may be in flight at each.

Pure asyncio bookkeeping with no HTTP in it. `EndpointPool.slot()` is the one place where a
request slot is acquired and released, and where the outcome is recorded:

    async with pool.slot() as endpoint:
        reply = await endpoint.backend.complete(...)

Leaving the block without an exception counts as a success. A `TransientError` marked
`rate_limited` is a 429. Any other TransientError is a failure of the endpoint (connection,
timeout, 5xx, garbage). Any other exception only frees the slot.

Per endpoint, an `AdaptiveLimit` (AIMD) sets how many requests may be in flight:
- it starts at the ceiling (SYSTEM.CONCURRENCY_LIMIT), never goes above it, and never goes
  below 1;
- a 429 cuts it ×0.75, once per burst. Each slot remembers the limiter's `epoch` when it
  started, and every cut bumps the epoch. A 429 from a slot that started before the latest cut
  is an echo of the burst already acted on, so it is ignored. A 429 from a request sent after
  the cut is new news and cuts again;
- a Retry-After hint (on a 429 or a 5xx) pauses new requests to the endpoint until then;
- the limit grows +1 after `grow_after` successes from slots started since the latest cut.

The pool also tracks each endpoint's health. After `failures_to_cool` failures in a row the
endpoint is taken out for `cooldown` seconds, and that time doubles (up to `max_cooldown`)
each time it fails again after coming back. A returning endpoint gets one request at a time
until one succeeds. The last endpoint still in service is never taken out: with nowhere else to
send requests, a cool-down would only hold up the retries and the engine's early stop
(EngineUnavailable after a run of failed requests).

Picking: among endpoints that are in service, not paused and have room, take the one with the
least in_flight / limit, with ties going round-robin. When none qualifies, a request waits in
line until a slot frees, a pause ends or a cool-down ends, whichever comes first. The line is
ordered by `REQUEST_PRIORITY` (lower first), then by arrival, so equal priorities are FIFO. The
run sets each chunk's position as the priority of every request its flow makes (see
`prioritised`), so a chunk admitted earlier gets the free slots ahead of later chunks and
finishes first (depth-first). A waiter woken to a slot that is gone by the time it runs (a cut,
a pause) goes back to its original place in line.

It does not retry, sleep between retries, or talk HTTP: EngineWrapper does those.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

DECREASE = 0.75  # a burst of 429s multiplies the limit by this, once
GROW_AFTER = 25  # successes in a row (since the latest cut) that earn +1
FAILURES_TO_COOL = 3  # failures in a row that take an endpoint out
COOLDOWN = 10.0  # seconds out of service the first time; doubles while it keeps failing
MAX_COOLDOWN = 300.0

B = TypeVar("B")

# Which waiting request gets the next free slot: lower numbers first, then arrival order. It
# is read when a request joins the line. asyncio tasks (asyncio.gather's children too) copy the
# context they start in, so setting it once at the top of a chunk's task covers all its calls.
REQUEST_PRIORITY: ContextVar[int] = ContextVar("REQUEST_PRIORITY", default=0)


@contextmanager
def prioritised(priority: int) -> Iterator[None]:
    """Give the slot requests made inside the block, and in tasks started there, `priority`
    (lower is served first); the previous priority comes back when the block ends.

    Example: `with prioritised(chunk_seq): await run_chunk(...)`.
    """
    token = REQUEST_PRIORITY.set(priority)
    try:
        yield
    finally:
        REQUEST_PRIORITY.reset(token)


class TransientError(Exception):
    """A failure worth retrying. `retry_after` is the server's hint in seconds, if it gave one.
    `rate_limited` marks a 429, which says "slow down" rather than "I am broken"."""

    def __init__(
        self, reason: str, retry_after: float | None = None, *, rate_limited: bool = False
    ) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.rate_limited = rate_limited


@dataclass
class AdaptiveLimit:
    """Concurrency for one endpoint. AIMD: ×DECREASE once per burst of 429s, +1 after a run of
    successes, always within [1, ceiling].

    Example: ceiling 8, eight 429s from slots started in epoch 0 -> limit 6 (epoch 1).
    """

    ceiling: int
    decrease: float = DECREASE
    grow_after: int = GROW_AFTER
    limit: int = field(init=False)
    in_flight: int = 0
    epoch: int = 0  # bumped by every cut; slots started before it are the old burst
    successes: int = 0  # since the latest cut or growth
    paused_until: float = 0.0  # no new request before this time (Retry-After)

    def __post_init__(self) -> None:
        if self.ceiling < 1:
            raise ValueError("AdaptiveLimit: the ceiling must be 1 or more.")
        self.limit = self.ceiling

    def on_success(self, epoch: int) -> bool:
        """Count a success from a slot started in `epoch`; True when the limit grew."""
        if epoch != self.epoch:
            return False  # started before the latest cut: says nothing about the new limit
        self.successes += 1
        if self.successes < self.grow_after:
            return False
        self.successes = 0
        if self.limit >= self.ceiling:
            return False
        self.limit += 1
        return True

    def on_rate_limited(self, epoch: int, retry_after: float | None, now: float) -> bool:
        """Count a 429 from a slot started in `epoch`; True when this one cut the limit."""
        self.pause(retry_after, now)
        if epoch != self.epoch:
            return False  # an echo: it was already in flight when the limit was cut
        self.limit = max(1, int(self.limit * self.decrease))
        self.epoch += 1
        self.successes = 0
        return True

    def pause(self, retry_after: float | None, now: float) -> None:
        if retry_after is not None and retry_after > 0:
            self.paused_until = max(self.paused_until, now + retry_after)


@dataclass(eq=False)
class Endpoint(Generic[B]):
    """One server (its backend), its limit, and its health."""

    name: str  # for messages; a URL without credentials
    backend: B
    limiter: AdaptiveLimit
    cooldown: float  # length of the next cool-down
    failures_in_a_row: int = 0
    out_until: float = 0.0  # out of service (cooling down) until this time
    probing: bool = False  # back from a cool-down: one request at a time until one succeeds
    successes: int = 0
    failures: int = 0
    rate_limited: int = 0

    @property
    def capacity(self) -> int:
        return 1 if self.probing else self.limiter.limit

    def in_service(self, now: float) -> bool:
        return now >= self.out_until

    def room(self, now: float) -> int:
        """Requests it could take right now."""
        if not self.in_service(now) or now < self.limiter.paused_until:
            return 0
        return max(0, self.capacity - self.limiter.in_flight)


class EndpointPool(Generic[B]):
    """Spreads requests over endpoints. `slot()` is the only way in."""

    def __init__(
        self,
        backends: Sequence[tuple[str, B]],
        *,
        ceiling: int,
        cooldown: float = COOLDOWN,
        max_cooldown: float = MAX_COOLDOWN,
        failures_to_cool: int = FAILURES_TO_COOL,
        grow_after: int = GROW_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not backends:
            raise ValueError("EndpointPool needs at least one endpoint.")
        self.endpoints = [
            Endpoint(name, backend, AdaptiveLimit(ceiling, grow_after=grow_after), cooldown)
            for name, backend in backends
        ]
        self.base_cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.failures_to_cool = failures_to_cool
        self.clock = clock
        self._turn = 0  # where the round-robin tie-break starts
        # (priority, arrival, future): a heap, so the earliest-admitted item's request is next
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._last_event = 0.0  # the latest moment a pause or cool-down set so far ends
        self._woken = 0  # waiters told "there is room" that have not yet run to claim it

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Endpoint[B]]:
        """Wait for room on some endpoint, hold it for the block, record how the block ended."""
        endpoint = await self.acquire()
        epoch = endpoint.limiter.epoch
        try:
            yield endpoint
        except TransientError as error:
            self.release(endpoint, epoch, error)
            raise
        except BaseException:
            self.release(endpoint, epoch, None, counted=False)
            raise
        else:
            self.release(endpoint, epoch, None)

    async def acquire(self) -> Endpoint[B]:
        """A slot on some endpoint (waiting in line by REQUEST_PRIORITY); give it back with
        `release`. Split from `slot()` for a pool that grants slots to other processes."""
        return await self._acquire()

    def release(
        self,
        endpoint: Endpoint[B],
        epoch: int,
        error: TransientError | None,
        *,
        counted: bool = True,
    ) -> None:
        """Free a slot taken in `epoch`, recording a success, or the TransientError it ended
        with; `counted=False` frees it without recording anything (the request was abandoned)."""
        if counted and error is not None:
            self._on_error(endpoint, epoch, error)
        elif counted:
            self._on_success(endpoint, epoch)
        endpoint.limiter.in_flight -= 1
        self._wake()

    # -- choosing --------------------------------------------------------------------------

    def take(self) -> Endpoint[B] | None:
        """Claim a slot on the least-loaded endpoint with room now; None when none has room."""
        now, count = self.clock(), len(self.endpoints)
        best: Endpoint[B] | None = None
        best_load, best_index = float("inf"), 0
        for step in range(count):
            index = (self._turn + step) % count
            endpoint = self.endpoints[index]
            if endpoint.room(now) <= 0:
                continue
            load = endpoint.limiter.in_flight / endpoint.capacity
            if load < best_load:
                best, best_load, best_index = endpoint, load, index
        if best is not None:
            best.limiter.in_flight += 1
            self._turn = (best_index + 1) % count
        return best

    async def _acquire(self) -> Endpoint[B]:
        while self._waiters and self._waiters[0][2].done():
            heapq.heappop(self._waiters)  # left behind by cancelled requests
        if not self._waiters and not self._woken:  # nobody is ahead in line
            endpoint = self.take()
            if endpoint is not None:
                return endpoint
        loop = asyncio.get_running_loop()
        place = (REQUEST_PRIORITY.get(), next(self._arrivals))
        waiter: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._waiters, (*place, waiter))
        self._wake()  # makes sure a timer is set when only time can free a slot
        while True:
            try:
                await waiter
            except asyncio.CancelledError:
                if not waiter.cancelled():
                    self._woken -= 1
                    self._wake()  # woken but leaving: pass the turn on
                raise
            self._woken -= 1
            endpoint = self.take()
            if endpoint is not None:
                return endpoint
            waiter = loop.create_future()
            heapq.heappush(self._waiters, (*place, waiter))  # the room went: keep our place
            self._wake()

    def _wake(self) -> None:
        """Wake as many waiters as there is room; set a timer for the next pause or cool-down
        to end while anyone is still waiting."""
        now = self.clock()
        room = sum(endpoint.room(now) for endpoint in self.endpoints) - self._woken
        while self._waiters and (room > 0 or self._waiters[0][2].done()):
            _, _, waiter = heapq.heappop(self._waiters)
            if not waiter.done():
                waiter.set_result(None)
                self._woken += 1
                room -= 1
        if not self._waiters or now >= self._last_event:
            return  # nobody waits, or only a slot in flight can free room (and will wake them)
        when = min(
            (
                moment
                for endpoint in self.endpoints
                for moment in (endpoint.out_until, endpoint.limiter.paused_until)
                if moment > now
            ),
            default=None,
        )
        if when is None:
            return
        if self._timer is not None and now < self._timer_at <= when:
            return  # an earlier timer is already set
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        delay = when - now + 0.001  # a hair late, never early
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._wake()

    # -- outcomes ---------------------------------------------------------------------------

    def _on_success(self, endpoint: Endpoint[B], epoch: int) -> None:
        endpoint.successes += 1
        endpoint.failures_in_a_row = 0
        if endpoint.probing:
            endpoint.probing = False
            endpoint.cooldown = self.base_cooldown
            log.info("%s: answering again; back in service", endpoint.name)
        if endpoint.limiter.on_success(epoch):
            log.debug("%s: concurrency up to %d", endpoint.name, endpoint.limiter.limit)

    def _on_error(self, endpoint: Endpoint[B], epoch: int, error: TransientError) -> None:
        now, limiter = self.clock(), endpoint.limiter
        if error.rate_limited:
            endpoint.rate_limited += 1
            before = limiter.limit
            cut = limiter.on_rate_limited(epoch, error.retry_after, now)
            self._last_event = max(self._last_event, limiter.paused_until)
            if cut:
                log.info(
                    "%s: rate limited (429); concurrency %d -> %d",
                    endpoint.name,
                    before,
                    limiter.limit,
                )
            return
        limiter.pause(error.retry_after, now)
        self._last_event = max(self._last_event, limiter.paused_until)
        endpoint.failures += 1
        endpoint.failures_in_a_row += 1
        if endpoint.failures_in_a_row < self.failures_to_cool or not endpoint.in_service(now):
            return  # not yet, or already out (an echo from a request sent before)
        if not any(other.in_service(now) for other in self.endpoints if other is not endpoint):
            return  # the last one standing stays in: there is nowhere else to go
        endpoint.out_until = now + endpoint.cooldown
        self._last_event = max(self._last_event, endpoint.out_until)
        endpoint.probing = True
        log.warning(
            "%s: %d failures in a row (last: %s); sending its requests elsewhere for %.1fs",
            endpoint.name,
            endpoint.failures_in_a_row,
            error,
            endpoint.cooldown,
        )
        endpoint.cooldown = min(self.max_cooldown, endpoint.cooldown * 2)
