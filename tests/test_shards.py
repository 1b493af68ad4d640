"""The parts of the Ray executor that need no Ray: a store folder with several writers (sealed
files read without locks, a killed writer's calls recovered), the shard plan, and the shared
actors' logic run in-process (the slot gateway's one ceiling, the ledger's totals, the budget
seen by every worker)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from augmentoolkit.context import open_run_store
from augmentoolkit.errors import BudgetReached
from augmentoolkit.generation_functions.engine_wrapper import ModelUsage
from augmentoolkit.generation_functions.store import Store, is_sealed, seal_files
from augmentoolkit.progress_board import BoardStats
from augmentoolkit.ray_actors import RATE_LIMITED, RunLedger, SlotGateway, share_spending
from augmentoolkit.shards import ShardPlan, shard_of
from tests.conftest import REPO
from tests.helpers import make_engine


def put(store: Store, step: str, key: str, text: str) -> None:
    store.step(step).put({"key": key, "text": text})


def test_a_store_reads_sealed_files_of_other_writers_and_its_own_first(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    with Store(folder) as main:
        put(main, "judge", "k1", "main's")
    with Store(folder, "shard-0.a.sqlite3", single_writer=True) as shard:
        put(shard, "judge", "k1", "shard's")
        put(shard, "judge", "k2", "only in the shard")
    with Store(folder) as unsealed:  # the shard's writer could still be at work: not read
        assert unsealed.step("judge").get("k2") is None
    seal_files([folder / "shard-0.a.sqlite3"])
    with Store(folder) as main:
        step = main.step("judge")
        assert step.get("k1") == {"key": "k1", "text": "main's"}
        assert step.get("k2") == {"key": "k2", "text": "only in the shard"}
        assert main.count() == 3
        assert [r["text"] for r in main.iter_records("judge")] == [
            "main's",
            "shard's",
            "only in the shard",
        ]
        assert main.spent()[""].requests == 3


def test_a_killed_shard_writers_calls_are_recovered_when_its_files_are_sealed(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "store"
    writer = (
        "import os, sys; from pathlib import Path\n"
        "from augmentoolkit.generation_functions.store import Store\n"
        "s = Store(Path(sys.argv[1]), 'shard-1.b.sqlite3', single_writer=True)\n"
        "s.step('judge').put({'key': 'k', 'text': 'paid for'})\n"
        "os.kill(os.getpid(), 9)\n"
    )
    done = subprocess.run([sys.executable, "-c", writer, str(folder)], cwd=REPO)
    assert done.returncode == -9
    assert not is_sealed(folder / "shard-1.b.sqlite3")
    with open_run_store(tmp_path) as store:  # holds the output lock: seals the others
        assert store.step("judge").get("k") == {"key": "k", "text": "paid for"}
    assert is_sealed(folder / "shard-1.b.sqlite3")


def test_chunks_keep_their_shard_and_the_plan_is_recorded(tmp_path: Path) -> None:
    ids = [f"chunk-{n}" for n in range(200)]
    shards = [shard_of(chunk, 3) for chunk in ids]
    assert set(shards) == {0, 1, 2}
    assert shards == [shard_of(chunk, 3) for chunk in ids]
    notes: list[str] = []
    plan = ShardPlan.load_or_create(tmp_path, 3, notes.append)
    again = ShardPlan.load_or_create(tmp_path, 5, notes.append)
    assert again.shards == plan.shards == 3
    assert "keeps the 3 shards" in notes[0] and len(notes) == 1
    owns = [again.owns(shard) for shard in range(3)]
    assert all(sum(own(chunk) for own in owns) == 1 for chunk in ids)


def test_servers_are_split_between_shards_only_when_each_gets_one(tmp_path: Path) -> None:
    plan = ShardPlan(tmp_path, 2)
    assert plan.endpoints_of(0, ("a", "b", "c")) == ("a", "c")
    assert plan.endpoints_of(1, ("a", "b", "c")) == ("b",)
    assert plan.endpoints_of(0, ("a",)) is None


def test_the_gateway_holds_one_ceiling_for_every_holder_and_takes_back_a_dead_ones() -> None:
    async def scenario() -> None:
        gateway = SlotGateway({"small": (["http://one"], 2)})
        await gateway.acquire("shard-0.a", "small", 0)
        await gateway.acquire("shard-1.b", "small", 0)
        third = asyncio.ensure_future(gateway.acquire("shard-1.b", "small", 0))
        await asyncio.sleep(0)
        assert not third.done()  # two holders, one ceiling of 2
        assert await gateway.retire("shard-0.") == 1  # shard 0's attempt died holding one
        assert await asyncio.wait_for(third, 5) == (0, 0)
        assert await gateway.peak() == 2

    asyncio.run(scenario())


def test_a_429_through_the_gateway_cuts_the_shared_limit() -> None:
    async def scenario() -> None:
        gateway = SlotGateway({"small": (["http://one"], 8), "large": (["http://two"], 8)})
        index, epoch = await gateway.acquire("shard-0.a", "small", 0)
        await gateway.release("shard-0.a", "small", index, epoch, RATE_LIMITED, None)
        assert gateway.pools["small"].endpoints[0].limiter.limit == 6
        assert gateway.pools["large"].endpoints[0].limiter.limit == 8  # its own servers

    asyncio.run(scenario())


def test_the_ledger_counts_the_current_attempt_of_each_shard_and_every_cost() -> None:
    ledger = RunLedger()
    judge = "judge chunks"
    ledger.started(0, "a")
    ledger.advance(0, "a", {judge: 2}, BoardStats(calls={judge: 3}, cost=0.5))
    ledger.started(0, "b")  # the first attempt died; the second redoes its chunks
    ledger.advance(0, "a", {judge: 5}, BoardStats(calls={judge: 9}, cost=9.0))
    ledger.advance(0, "b", {judge: 1}, BoardStats(calls={judge: 1}, cost=0.25))
    ledger.say("a line")
    done, calls, cost, lines = ledger.snapshot()
    assert done == {"judge chunks": 1}
    assert calls == {"judge chunks": 4}
    assert cost == 0.75
    assert lines == ["a line"] and ledger.snapshot()[3] == []


class InProcess:
    """An actor stand-in: `obj.method.remote(...)` runs the method here, as a future."""

    def __init__(self, target: Any) -> None:
        self.target = target

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.target, name)

        class Remote:
            @staticmethod
            def remote(*args: Any) -> asyncio.Future[Any]:
                future = asyncio.get_running_loop().create_future()
                future.set_result(method(*args))
                return future

        return Remote


def test_every_worker_sees_the_whole_runs_spending_against_the_budget() -> None:
    async def scenario() -> None:
        ledger = RunLedger()
        ledger.spend("other-shard", 0.9)
        engine = make_engine("http://127.0.0.1:9/v1")
        engine.budget, engine.prices = 1.0, {"m": (1_000_000.0, 0.0)}
        updates = share_spending(engine, InProcess(ledger), "this-shard")
        engine.usage["m"] = ModelUsage(requests=1, prompt_tokens=0)
        engine._check_budget()  # 0.9 elsewhere, nothing here: under the cap
        engine.usage["m"].prompt_tokens = 1  # this worker spends $1e-6... and learns of $0.9
        assert engine.on_spend is not None
        engine.on_spend()
        await asyncio.gather(*updates)
        assert engine.spent_elsewhere == pytest.approx(0.9)
        ledger.spend("other-shard", 1.0)
        engine.on_spend()
        await asyncio.gather(*updates)
        with pytest.raises(BudgetReached, match="budget of \\$1.00"):
            engine._check_budget()
        await engine.close()

    asyncio.run(scenario())
