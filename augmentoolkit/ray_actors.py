"""What the workers of one Ray run share, so that limits hold for the whole cluster:

- `RunLedger` (one actor): each attempt's cost, which every worker's budget check adds to its
  own (the cap is the run's, not a worker's); each shard's chunks done per stage and calls per
  stage, which the driver's progress board shows; lines for the person running it.
- `SlotGateway` (one async actor, only when workers share servers): the EndpointPool of every
  server, granting request slots by chunk order and taking back each slot's outcome, so one
  concurrency ceiling and one AIMD back-off after 429s hold however many workers send. The
  HTTP requests still go out from the workers; only the grant and the release cross over.
- Worker side: `GatewayPool` (the engine's pool, asking the gateway), `ShardBoard` (the run's
  board, forwarding to the ledger) and `share_spending` (keeps the budget check current).

The actor classes are plain Python (ray_run.py makes them actors), so they run in tests
without Ray. A shard attempt's slots are taken back when the attempt ends or a later attempt of
its shard starts (`retire`), so a killed worker cannot keep them.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from augmentoolkit.generation_functions.endpoints import (
    REQUEST_PRIORITY,
    Endpoint,
    EndpointPool,
    TransientError,
    prioritised,
)
from augmentoolkit.generation_functions.engine_wrapper import Backend, EngineWrapper
from augmentoolkit.progress_board import BoardStats

# How a slot ended, as it travels to the gateway.
OK, FAILED, RATE_LIMITED, ABANDONED = "ok", "failed", "rate limited", "abandoned"
FLUSH_SECONDS = 0.5  # how often a worker sends its progress counts
Snapshot = tuple[dict[str, int], dict[str, int], float, list[str]]


class RunLedger:
    """Cost, progress and messages of every worker of one run."""

    def __init__(self) -> None:
        self.current: dict[int, str] = {}  # shard -> its running attempt
        self.done: dict[int, Counter[str]] = {}  # shard -> stage -> chunks (current attempt)
        self.calls: dict[str, dict[str, int]] = {}  # attempt -> stage -> calls
        self.cost: dict[str, float] = {}  # attempt -> dollars (a killed attempt's still count)
        self.lines: list[str] = []

    def started(self, shard: int, attempt: str) -> None:
        """A new attempt of `shard`: it redoes the shard's chunks (from the store)."""
        self.current[shard] = attempt
        self.done[shard] = Counter()

    def advance(self, shard: int, attempt: str, done: dict[str, int], stats: BoardStats) -> None:
        """Count chunks `done` per stage by a shard's attempt, with its calls and cost so far."""
        if self.current.get(shard) != attempt:
            return  # an attempt that has been replaced
        self.done[shard].update(done)
        self.calls[attempt] = dict(stats.calls)
        self.cost[attempt] = stats.cost

    def spend(self, attempt: str, cost: float) -> float:
        """Record an attempt's cost so far; the whole run's."""
        self.cost[attempt] = cost
        return sum(self.cost.values())

    def say(self, line: str) -> None:
        self.lines.append(line)

    def snapshot(self) -> Snapshot:
        """(chunks done per stage, calls per stage, cost, lines said since the last call)."""
        done: Counter[str] = Counter()
        for counts in self.done.values():
            done.update(counts)
        calls: Counter[str] = Counter()
        for per_stage in self.calls.values():
            calls.update(per_stage)
        lines, self.lines = self.lines, []
        return dict(done), dict(calls), sum(self.cost.values()), lines


class SlotGateway:
    """The run's one EndpointPool per model role whose servers several workers share. Each
    server is known by its role and its index in that role's URL list (API.BASE_URL, or
    LARGE_BASE_URL); every method is a coroutine (an async actor)."""

    def __init__(self, roles: dict[str, tuple[list[str], int]]) -> None:
        """`roles`: role -> (server names, concurrency ceiling of each)."""
        self.pools: dict[str, EndpointPool[int]] = {
            role: EndpointPool([(name, i) for i, name in enumerate(names)], ceiling=ceiling)
            for role, (names, ceiling) in roles.items()
        }
        self.held: defaultdict[str, Counter[tuple[str, int]]] = defaultdict(Counter)
        self.in_flight_max = 0

    async def acquire(self, holder: str, role: str, priority: int) -> tuple[int, int]:
        """(server index, limiter epoch) of a slot of `role` for `holder`, lower priorities
        first."""
        pool = self.pools[role]
        with prioritised(priority):
            endpoint = await pool.acquire()
        self.held[holder][role, endpoint.backend] += 1
        in_flight = max(e.limiter.in_flight for e in pool.endpoints)
        self.in_flight_max = max(self.in_flight_max, in_flight)
        return endpoint.backend, endpoint.limiter.epoch

    async def release(
        self,
        holder: str,
        role: str,
        index: int,
        epoch: int,
        outcome: str,
        retry_after: float | None,
    ) -> None:
        if self.held[holder][role, index] <= 0:
            return  # retired with its attempt
        self.held[holder][role, index] -= 1
        error = None
        if outcome not in (OK, ABANDONED):
            error = TransientError(outcome, retry_after, rate_limited=outcome == RATE_LIMITED)
        pool = self.pools[role]
        pool.release(pool.endpoints[index], epoch, error, counted=outcome != ABANDONED)

    async def retire(self, prefix: str) -> int:
        """Take back every slot still held by holders named `prefix...` (a finished or dead
        attempt); how many there were."""
        freed = 0
        for holder, counts in self.held.items():
            if not holder.startswith(prefix):
                continue
            for (role, index), count in counts.items():
                endpoint = self.pools[role].endpoints[index]
                for _ in range(count):
                    self.pools[role].release(endpoint, endpoint.limiter.epoch, None, counted=False)
                freed += count
            counts.clear()
        return freed

    async def peak(self) -> int:
        """The most slots one server had granted at once so far."""
        return self.in_flight_max


# ----------------------------------------------------------------------------- worker side


class GatewayPool:
    """A role's pool whose slots the run's SlotGateway grants (engine_wrapper.SlotPool)."""

    def __init__(
        self, endpoints: list[Endpoint[Backend]], gateway: Any, holder: str, role: str
    ) -> None:
        self.endpoints = endpoints  # the same order as the gateway's servers of the role
        self.gateway = gateway
        self.holder = holder
        self.role = role

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Endpoint[Backend]]:
        priority = REQUEST_PRIORITY.get()
        index, epoch = await self.gateway.acquire.remote(self.holder, self.role, priority)
        outcome, retry_after = ABANDONED, None
        try:
            yield self.endpoints[index]
            outcome = OK
        except TransientError as error:
            outcome = RATE_LIMITED if error.rate_limited else FAILED
            retry_after = error.retry_after
            raise
        finally:  # sent without waiting: the next request need not wait for the reply
            release = self.gateway.release.remote
            release(self.holder, self.role, index, epoch, outcome, retry_after)


class ShardBoard:
    """A shard's progress board: the chunks its stages finish, and its lines, go to the run's
    ledger, whose totals the driver shows (progress_board.Board). Counts are sent at most
    every `interval` seconds, since each message costs the worker CPU that calls could use."""

    def __init__(
        self,
        ledger: Any,
        shard: int,
        attempt: str,
        stats: Callable[[], BoardStats],
        interval: float = FLUSH_SECONDS,
    ) -> None:
        self.ledger = ledger
        self.shard = shard
        self.attempt = attempt
        self.stats = stats
        self.interval = interval
        self.pending: Counter[str] = Counter()
        self.sent_at = 0.0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def advance(self, stage: str, count: int = 1) -> None:
        self.pending[stage] += count
        if time.monotonic() - self.sent_at >= self.interval:
            self.flush()

    def flush(self) -> Any:
        """Send the counts not yet sent; the reply to wait on (None when nothing was due)."""
        self.sent_at = time.monotonic()
        if not self.pending:
            return None
        done, self.pending = dict(self.pending), Counter()
        return self.ledger.advance.remote(self.shard, self.attempt, done, self.stats())

    def write(self, line: str) -> None:
        self.ledger.say.remote(line)

    def close(self) -> None:
        self.flush()
        self._closed = True


def share_spending(engine: EngineWrapper, ledger: Any, attempt: str) -> set[asyncio.Task[None]]:
    """After every answered request, tell the ledger this attempt's cost and learn what the
    rest of the run spent, so the budget check sees the whole run. Only worth it with a
    budget; returns the set of updates in flight (kept so none is garbage-collected)."""
    updates: set[asyncio.Task[None]] = set()

    async def update(own: float) -> None:
        total = await ledger.spend.remote(attempt, own)
        engine.spent_elsewhere = max(0.0, total - own)

    def on_spend() -> None:
        task = asyncio.ensure_future(update(engine.cost()))
        updates.add(task)
        task.add_done_callback(updates.discard)

    engine.on_spend = on_spend
    return updates
