"""Adaptive concurrency (AIMD) and several endpoints per model: the limiter and pool on a fake
clock, then EngineWrapper against one or two scripted servers, then API.BASE_URL as a list."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Sequence

import pytest

from augmentoolkit.config import Secret
from augmentoolkit.context import build_context
from augmentoolkit.errors import ConfigError, EngineUnavailable
from augmentoolkit.generation_functions.endpoints import (
    REQUEST_PRIORITY,
    AdaptiveLimit,
    Endpoint,
    EndpointPool,
    TransientError,
    prioritised,
)
from augmentoolkit.generation_functions.engine_wrapper import (
    EngineWrapper,
    Sampling,
    public_url,
)
from augmentoolkit.generation_functions.openai_backend import OpenAIBackend
from augmentoolkit.generation_functions.prompts import RenderedPrompt
from tests.conftest import ConfigFactory
from tests.helpers import close_context, fast_retry
from tests.llm_server import RecordedRequest, ScriptedLLMServer

CHAT = RenderedPrompt(messages=({"role": "user", "content": "Say hi"},), text=None)
BROKEN = TransientError("server error 500")
RATE_LIMITED = TransientError("429 rate limited", rate_limited=True)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def engine_for(*urls: str, concurrency: int = 4, max_retries: int = 4) -> EngineWrapper:
    backends = [OpenAIBackend(url, Secret(""), 5.0) for url in urls]
    return EngineWrapper(backends, concurrency=concurrency, retry=fast_retry(max_retries))


async def run_calls(engine: EngineWrapper, count: int) -> list[str]:
    calls = (engine.generate(CHAT, "m", Sampling(), "greet") for _ in range(count))
    return [done.text for done in await asyncio.gather(*calls)]


def dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# --- the limiter (AIMD) -----------------------------------------------------------------------


def test_a_burst_of_429s_cuts_once_not_per_echo() -> None:
    limit = AdaptiveLimit(ceiling=8)
    cuts = [limit.on_rate_limited(epoch=0, retry_after=None, now=0.0) for _ in range(8)]
    assert cuts == [True] + [False] * 7  # the other seven were in flight when it was cut
    assert limit.limit == 6  # not 8 * 0.75**8
    assert limit.on_rate_limited(epoch=1, retry_after=None, now=0.0)  # sent after the cut: news
    assert limit.limit == 4


def test_grows_back_slowly_to_the_ceiling_and_never_below_one() -> None:
    limit = AdaptiveLimit(ceiling=8, grow_after=25)
    for _ in range(20):
        limit.on_rate_limited(limit.epoch, None, 0.0)
    assert limit.limit == 1
    for _ in range(100):
        limit.on_success(epoch=0)  # started before the cuts: no credit
    assert limit.limit == 1
    grown = [limit.on_success(limit.epoch) for _ in range(25 * 20)]
    assert limit.limit == 8 and sum(grown) == 7  # +1 per 25 successes, stopping at the ceiling


def test_retry_after_sets_a_pause() -> None:
    limit = AdaptiveLimit(ceiling=4)
    limit.on_rate_limited(0, 2.0, now=100.0)
    limit.on_rate_limited(0, 0.5, now=100.5)  # a shorter hint never shortens the pause
    assert limit.paused_until == 102.0


# --- the pool on a fake clock -----------------------------------------------------------------


def test_least_loaded_relative_to_limit_then_round_robin() -> None:
    pool = EndpointPool([("a", "A"), ("b", "B")], ceiling=4, clock=FakeClock())
    picked = [endpoint.name for endpoint in (pool.take() for _ in range(6)) if endpoint]
    assert picked == ["a", "b", "a", "b", "a", "b"]
    pool.endpoints[1].limiter.limit = 12  # b may take three times as many
    picked = [endpoint.name for endpoint in (pool.take() for _ in range(8)) if endpoint]
    assert picked.count("b") == 7 and picked.count("a") == 1  # a: 4/4 full; b fills to 10/12


def test_failing_endpoint_cools_down_doubling_but_the_last_one_stays() -> None:
    clock = FakeClock()
    pool = EndpointPool(
        [("a", "A"), ("b", "B")], ceiling=4, cooldown=10.0, failures_to_cool=3, clock=clock
    )
    a, b = pool.endpoints

    async def send(a_is_broken: bool) -> str:
        """One request; the name of the endpoint it went to."""
        try:
            async with pool.slot() as endpoint:
                if a_is_broken and endpoint is a:
                    raise BROKEN
                return endpoint.name
        except TransientError:
            return "a"

    async def scenario() -> None:
        while a.failures_in_a_row < 3:
            await send(a_is_broken=True)
        assert a.out_until == clock.now + 10 and not a.in_service(clock.now)
        assert {await send(a_is_broken=True) for _ in range(5)} == {"b"}  # sent elsewhere
        clock.now += 10.1  # back, one request at a time; it fails again: out twice as long
        assert a.capacity == 1
        while await send(a_is_broken=True) != "a":
            pass
        assert a.out_until == pytest.approx(clock.now + 20)
        clock.now += 20.1
        while await send(a_is_broken=False) != "a":
            pass
        assert a.capacity == 4 and a.cooldown == 10.0  # healthy again: forgiven
        for _ in range(3):  # now b fails three times while a is out: b is all that is left
            a.out_until = clock.now + 50
            with pytest.raises(TransientError):
                async with pool.slot():
                    raise BROKEN
        assert b.failures_in_a_row == 3 and b.in_service(clock.now)

    asyncio.run(scenario())


def test_429s_do_not_count_as_failures() -> None:
    pool = EndpointPool([("a", "A"), ("b", "B")], ceiling=8, clock=FakeClock())

    async def scenario() -> None:
        for _ in range(10):
            with pytest.raises(TransientError):
                async with pool.slot():
                    raise RATE_LIMITED

    asyncio.run(scenario())
    assert all(e.failures_in_a_row == 0 and e.in_service(1000.0) for e in pool.endpoints)


# --- the line: priority first, then arrival (depth-first) -------------------------------------


async def request(
    pool: EndpointPool[str], label: str, granted: list[str], queued: asyncio.Event
) -> None:
    """Ask for a slot, note `label` when it comes and give it straight back. `queued` is set
    just before asking: joining the line does not yield, so the request is in line by the time
    whoever waits on `queued` runs."""
    queued.set()
    async with pool.slot():
        granted.append(label)


async def as_chunk(priority: int, flow: Awaitable[None]) -> None:
    """A chunk's task: sets its priority once at the top, as the pipeline does."""
    REQUEST_PRIORITY.set(priority)
    await flow


async def line_up(
    pool: EndpointPool[str], requests: Sequence[tuple[int, str]], granted: list[str]
) -> list[asyncio.Task[None]]:
    """One chunk task per (priority, label), each in line before the next one starts."""
    tasks = []
    for priority, label in requests:
        queued = asyncio.Event()
        flow = request(pool, label, granted, queued)
        tasks.append(asyncio.create_task(as_chunk(priority, flow)))
        await queued.wait()
    return tasks


def test_prioritised_sets_the_priority_for_its_block_only() -> None:
    with prioritised(7):
        assert REQUEST_PRIORITY.get() == 7
    assert REQUEST_PRIORITY.get() == 0


def test_waiters_get_slots_by_priority_then_arrival() -> None:
    pool = EndpointPool([("a", "A")], ceiling=1, clock=FakeClock())
    granted: list[str] = []

    async def scenario() -> None:
        async with pool.slot():  # the only slot: everyone below waits
            asked = [(5, "5"), (1, "first 1"), (3, "3"), (1, "second 1")]
            tasks = await line_up(pool, asked, granted)
            assert granted == []
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert granted == ["first 1", "second 1", "3", "5"]


def test_requests_from_gather_children_carry_their_chunk_priority() -> None:
    pool = EndpointPool([("a", "A")], ceiling=1, clock=FakeClock())
    granted: list[str] = []

    async def fan_out(queued: Sequence[asyncio.Event]) -> None:
        """A chunk whose stage sends two requests at once."""
        with prioritised(1):
            await asyncio.gather(*(request(pool, "1", granted, event) for event in queued))

    async def scenario() -> None:
        async with pool.slot():
            tasks = await line_up(pool, [(2, "2")], granted)
            queued = [asyncio.Event(), asyncio.Event()]
            tasks.append(asyncio.create_task(fan_out(queued)))
            for event in queued:
                await event.wait()
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert granted == ["1", "1", "2"]


def test_a_waiter_whose_room_goes_keeps_its_place(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    pool = EndpointPool([("a", "A")], ceiling=2, clock=clock)
    limiter = pool.endpoints[0].limiter
    granted: list[str] = []
    take = pool.take

    async def scenario() -> None:
        missed = asyncio.Event()

        def take_or_tell() -> Endpoint[str] | None:
            endpoint = take()
            if endpoint is None:
                missed.set()
            return endpoint

        first, second = pool.slot(), pool.slot()
        await first.__aenter__()
        await second.__aenter__()
        asked = [(3, "woken, then no room"), (3, "same priority, later"), (5, "5, later")]
        tasks = await line_up(pool, asked, granted)
        monkeypatch.setattr(pool, "take", take_or_tell)
        await first.__aexit__(None, None, None)  # room for one: wakes the head of the line
        limiter.on_rate_limited(limiter.epoch, None, clock())  # a 429 cuts 2 -> 1 before it runs
        await missed.wait()  # it found no room, and went back in line
        assert granted == [] and limiter.limit == 1
        await second.__aexit__(None, None, None)
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert granted == ["woken, then no room", "same priority, later", "5, later"]


# --- one scripted server ----------------------------------------------------------------------


def test_burst_cuts_to_6_then_grows_back_to_the_ceiling(server: ScriptedLLMServer) -> None:
    server.set_latency(0.02)
    # the 429s are held back 0.3 s, so all eight are in flight before the first comes back,
    # even on a busy machine
    server.inject("429", count=8, delay=0.3)
    engine = engine_for(server.base_url, concurrency=8)
    limiter = engine.endpoints[0].limiter

    async def go() -> tuple[int, int]:
        try:
            await run_calls(engine, 16)  # 8 go out at once; all 8 are answered 429
            after_burst = limiter.limit
            await run_calls(engine, 80)
            return after_burst, limiter.limit
        finally:
            await engine.close()

    after_burst, final = asyncio.run(go())
    assert after_burst == 6  # one cut for the burst; per-429 cuts would leave 1
    assert final == 8  # +1 per 25 successes, capped at CONCURRENCY_LIMIT
    assert server.in_flight_max <= 8
    assert engine.usage["m"].retries == 8


def test_retry_after_pauses_new_requests(server: ScriptedLLMServer) -> None:
    answered: list[float] = []

    def responder(request: RecordedRequest) -> str:
        answered.append(time.monotonic())
        return "ok"

    server.set_responder(responder)
    server.inject("429", count=1, retry_after=0.4)
    engine = engine_for(server.base_url, concurrency=4)
    endpoint = engine.endpoints[0]

    async def go() -> tuple[float, float]:
        try:
            first = asyncio.ensure_future(engine.generate(CHAT, "m", Sampling(), "greet"))
            while endpoint.rate_limited == 0:  # until the 429 is back
                await asyncio.sleep(0.005)
            seen = time.monotonic()
            await asyncio.gather(first, run_calls(engine, 3))  # new requests, during the pause
            return seen, endpoint.limiter.paused_until
        finally:
            await engine.close()

    seen, paused_until = asyncio.run(go())
    assert paused_until - seen > 0.35  # about Retry-After from when the 429 came back
    assert len(answered) == 4
    assert min(answered) >= paused_until  # nobody got through during the pause
    assert max(answered) - paused_until < 1.0  # and everyone soon after it


# --- two scripted servers ---------------------------------------------------------------------


def test_two_servers_share_the_load(server: ScriptedLLMServer) -> None:
    with ScriptedLLMServer() as other:
        server.set_latency(0.02)
        other.set_latency(0.02)
        engine = engine_for(server.base_url, other.base_url, concurrency=4)

        async def go() -> list[str]:
            try:
                return await run_calls(engine, 80)
            finally:
                await engine.close()

        assert asyncio.run(go()) == ["ok"] * 80
        counts = (server.count(), other.count())
        assert sum(counts) == 80 and min(counts) >= 30, counts
        assert server.in_flight_max <= 4 and other.in_flight_max <= 4


@pytest.mark.parametrize("fault", ["stopped", "500s"])
def test_a_failing_server_is_left_out_and_every_call_succeeds(
    server: ScriptedLLMServer, fault: str
) -> None:
    other = ScriptedLLMServer()
    other.start()
    server.set_latency(0.02)
    other.set_latency(0.02)
    engine = engine_for(server.base_url, other.base_url, concurrency=4)
    broken = engine.endpoints[1]

    async def go() -> tuple[list[str], int]:
        try:
            calls = asyncio.ensure_future(run_calls(engine, 120))
            while other.count() < 8:  # mid-run: both are serving
                await asyncio.sleep(0.005)
            if fault == "stopped":
                await asyncio.to_thread(other.stop)
            else:
                other.inject("500", count=10_000)
            seen_by_other = other.count()
            return await calls, seen_by_other
        finally:
            await engine.close()

    try:
        results, seen_by_other = asyncio.run(go())
    finally:
        other.stop()
    assert results == ["ok"] * 120
    assert 8 <= seen_by_other < 60  # both were serving before the fault
    assert not broken.in_service(time.monotonic())  # out for its cool-down
    assert broken.failures >= 3
    if fault == "500s":
        # A few 500s, then nothing more: successes of requests that were in flight when the
        # fault began can reset the failure streak, so allow up to 3 x the per-endpoint limit
        # (without the cool-down it would take about half of the remaining 100 calls).
        assert other.count() - seen_by_other <= 12


def test_every_endpoint_dead_stops_the_run_quickly() -> None:
    engine = engine_for(dead_url(), dead_url(), concurrency=4, max_retries=1)

    async def go() -> list[object]:
        try:
            calls = (engine.generate(CHAT, "m", Sampling(), "s") for _ in range(40))
            return list(await asyncio.gather(*calls, return_exceptions=True))
        finally:
            await engine.close()

    started = time.monotonic()
    results = asyncio.run(go())
    assert time.monotonic() - started < 5  # no waiting out cool-downs with nowhere to go
    stops = [r for r in results if isinstance(r, EngineUnavailable)]
    assert len(stops) >= 30
    assert all(str(stop).startswith("stopping early: ") for stop in stops)
    in_service = [e.in_service(time.monotonic()) for e in engine.endpoints]
    assert in_service.count(True) == 1  # one was left out; the last one standing stayed in


# --- API.BASE_URL as a list -------------------------------------------------------------------


def test_config_accepts_a_list_and_builds_one_client_per_url(
    make_config: ConfigFactory, server: ScriptedLLMServer
) -> None:
    urls = [server.base_url, "https://user:pw@gpu-2.example:8000/v1"]
    config = make_config(API={"BASE_URL": urls})
    assert config.API.BASE_URL == tuple(urls) and config.API.base_urls == tuple(urls)
    ctx = build_context(config)
    try:
        names = [endpoint.name for endpoint in ctx.engine.endpoints]
        assert names == [server.base_url, "https://gpu-2.example:8000/v1"]  # no password shown
        assert all(e.limiter.ceiling == 8 for e in ctx.engine.endpoints)  # CONCURRENCY_LIMIT
    finally:
        asyncio.run(close_context(ctx))


def test_config_plain_string_and_embedded_stay_valid(make_config: ConfigFactory) -> None:
    assert make_config(API={"BASE_URL": "http://h:1/v1"}).API.base_urls == ("http://h:1/v1",)
    assert make_config(API={"BASE_URL": "embedded"}).API.BASE_URL == "embedded"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["http://a:1/v1", "a:2/v1"], "API.BASE_URL: item 2, 'a:2/v1', is not an http(s) URL"),
        (["http://a:1/v1", "ftp://b/v1"], "API.BASE_URL: item 2, 'ftp://b/v1', is not an http"),
        (["http://a:1x/v1"], "API.BASE_URL: item 1, 'http://a:1x/v1', is not an http(s) URL"),
        ([], "API.BASE_URL: the list is empty"),
        (["http://a:1/v1", 3], "API.BASE_URL: item 2 must be text, got 3"),
        (["http://a:1/v1", "http://a:1/v1"], "'http://a:1/v1' is listed twice"),
        ({"url": "http://a:1/v1"}, "API.BASE_URL: must be text or a list of texts"),
        (["embedded"], "API.BASE_URL: item 1, 'embedded', is not an http(s) URL"),
    ],
)
def test_config_rejects_a_bad_list(
    make_config: ConfigFactory, value: object, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(API={"BASE_URL": value})
    assert len(caught.value.problems) == 1
    assert expected in caught.value.problems[0]
    assert ". " in caught.value.problems[0]  # a problem and then its fix


def test_public_url_hides_credentials() -> None:
    assert public_url("http://u:sk-1@h:8000/v1?key=sk-2#x") == "http://h:8000/v1"
    assert public_url("https://api.openai.com/v1") == "https://api.openai.com/v1"
