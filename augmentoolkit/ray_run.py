"""The Ray executor (SYSTEM.EXECUTOR ray): the driver side of a run spread over a Ray cluster.

The driver (this process, `python processing.py`) reads and chunks the inputs as a local run
does, then:
1. connects to the cluster (SYSTEM.RAY_ADDRESS, else RAY_ADDRESS, else a local Ray started for
   the run), after checking it answers, so a wrong address is one line and not a long hang;
2. fixes the shard plan (shards.py) and starts the shared actors (ray_actors.py): the ledger,
   and the slot gateway when workers must share servers;
3. starts one Ray task per shard (ray_shard.py). Tasks rather than actors: a shard is one
   piece of work with a beginning and an end, and Ray re-runs a task whose worker died
   (max_retries) with no bookkeeping of ours; nothing but the gateway and the ledger needs to
   live across shards;
4. shows the ledger's totals on the progress board while the tasks run; the first task that
   fails with a run-wide stop (dead server, refused key, budget spent) cancels the others and
   ends the run with that error's message and exit status;
5. merges the shards' stage rows into OUTPUT's own stage folders, in chunk order, and their
   counters into the run's, so the export and the run report work on the whole corpus once.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections import Counter
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from augmentoolkit.control_flow_functions.progress import StageOutcome
from augmentoolkit.errors import AugmentoolkitError, ClusterUnavailable, RunIncomplete
from augmentoolkit.generation_functions.engine_wrapper import ModelUsage, public_url
from augmentoolkit.generation_functions.generation_step import StepStats
from augmentoolkit.pipeline import PipelineRun
from augmentoolkit.progress_board import BoardStats
from augmentoolkit.ray_actors import RunLedger, SlotGateway
from augmentoolkit.ray_shard import ShardJob, ShardReport, add_counts, run_shard
from augmentoolkit.shards import ShardPlan, merge_shard_folders

ATTEMPTS = 4  # per shard: the first and up to 3 retries after its worker dies
POLL_SECONDS = 0.5  # how often the board shows the workers' progress
PROBE_SECONDS = 5.0
INSTALL = "pip install -e '.[ray]'"


def import_ray() -> ModuleType:
    """Ray, or one line naming the install command."""
    try:
        import ray
    except ImportError:
        raise ClusterUnavailable(
            f"SYSTEM.EXECUTOR is ray, but Ray is not installed. Install it with {INSTALL} "
            "(on every machine of the cluster), or set EXECUTOR: local."
        ) from None
    return ray


def cluster_address(configured: str) -> str:
    """SYSTEM.RAY_ADDRESS, else the RAY_ADDRESS environment variable; "" starts a local Ray."""
    return configured.strip() or os.environ.get("RAY_ADDRESS", "").strip()


def check_reachable(address: str) -> None:
    """ClusterUnavailable unless something listens at host:port (ray.init itself would keep
    retrying for minutes)."""
    if not address or address == "auto":
        return
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    try:
        socket.create_connection((host, port), timeout=PROBE_SECONDS).close()
    except OSError as error:
        raise ClusterUnavailable(
            f"cannot reach the Ray cluster at {address} ({error.strerror or error}). Start it "
            "with `ray start --head` there, fix SYSTEM.RAY_ADDRESS (or the RAY_ADDRESS "
            "variable), or leave both empty to start a local Ray."
        ) from None


def connect(ray: ModuleType, address: str) -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    check_reachable(address)
    if ray.is_initialized():
        return
    try:
        ray.init(
            address=address or None,
            include_dashboard=False,
            log_to_driver=False,  # workers log to OUTPUT/shards/shard-K/run.log
            logging_level="WARNING",
        )
    except ConnectionError as error:
        raise ClusterUnavailable(
            f"cannot connect to the Ray cluster at {address or 'auto'}: {error}. Check "
            "SYSTEM.RAY_ADDRESS, or set EXECUTOR: local."
        ) from None


async def run_on_ray(run: PipelineRun) -> None:
    """Every stage of the table over Ray workers, then the stages' lines as after a local
    run; the shards' rows end up in OUTPUT's stage folders."""
    ray = import_ray()
    connect(ray, cluster_address(run.config.SYSTEM.RAY_ADDRESS))
    try:
        await _run(ray, run)
    finally:
        ray.shutdown()


async def _run(ray: ModuleType, run: PipelineRun) -> None:
    config = run.config
    cpus = int(ray.cluster_resources().get("CPU", 0))
    workers = config.SYSTEM.RAY_WORKERS or cpus or 1
    plan = ShardPlan.load_or_create(run.output, workers, run.tell)
    run.ctx.store.seal()  # the workers read its calls; the driver writes none meanwhile
    ledger = ray.remote(num_cpus=0)(RunLedger).remote()
    gateway = _gateway(ray, run, plan)
    run.tell(
        f"Ray: {plan.shards} shards on {cpus} CPUs"
        + (", sharing servers through one slot gateway" if gateway is not None else "")
        + f"; worker logs in {run.output / 'shards'}"
    )
    task = ray.remote(num_cpus=1, max_retries=ATTEMPTS - 1)(run_shard)
    fingerprint = run.folders.fingerprint
    jobs = [
        ShardJob(config, plan, shard, fingerprint, ledger, gateway, run.stages)
        for shard in range(plan.shards)
    ]
    refs = [task.remote(job) for job in jobs]
    reports = await _wait(ray, run, refs, ledger)
    run.ctx.store.read_other_writers()  # the workers' calls, for meta-datagen and the report
    for report in reports:
        _absorb(run, report)
    merge_shard_folders(plan, run.folders, run.stages, fingerprint, _counter(run))
    if run.board is not None:
        run.board.close()
    run.finish_stages()


def _gateway(ray: ModuleType, run: PipelineRun, plan: ShardPlan) -> Any | None:
    """The slot gateway, for the model roles that have fewer servers than there are shards;
    None when every role's servers can be split between the shards."""
    api, system = run.config.API, run.config.SYSTEM
    roles = ("small", "large") if api.large_has_own_servers else ("small",)
    shared = {
        role: ([public_url(url) for url in api.urls_of(role)], system.concurrency_of(role))
        for role in roles
        if plan.endpoints_of(0, api.urls_of(role)) is None
    }
    if not shared:
        return None
    actor = ray.remote(num_cpus=0, max_concurrency=10_000, max_restarts=3, max_task_retries=3)
    return actor(SlotGateway).remote(shared)


async def _wait(ray: ModuleType, run: PipelineRun, refs: list[Any], ledger: Any) -> list[Any]:
    """Every shard's report, showing progress meanwhile; the first failure cancels the rest."""
    latest = BoardStats(calls={}, cost=0.0)
    board = run._board(lambda: latest)
    futures = {asyncio.wrap_future(ref.future()): ref for ref in refs}
    waiting = dict(futures)
    reports = []
    shown: Counter[str] = Counter()  # chunks done per stage, as the board shows them

    async def show_progress() -> None:
        nonlocal latest
        stages, calls, cost, lines = await ledger.snapshot.remote()
        latest = BoardStats(calls=calls, cost=cost)
        for name, count in stages.items():
            if count > shown[name]:  # a retried shard's count starts again from 0
                board.advance(name, count - shown[name])
                shown[name] = count
        for line in lines:
            run.tell(line)

    try:
        while waiting:
            done, _ = await asyncio.wait(
                waiting, timeout=POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            await show_progress()
            for future in done:
                waiting.pop(future)
                reports.append(_result(ray, future))
        await show_progress()
    finally:
        for future, ref in futures.items():
            if not future.done():
                ray.cancel(ref)
                future.cancel()
            elif not future.cancelled():
                future.exception()  # seen: asyncio would print each unseen failure at exit
    return reports


def _result(ray: ModuleType, future: asyncio.Future[Any]) -> Any:
    """A shard's report, or its failure as this package's error (no Ray traceback)."""
    try:
        return future.result()
    except ray.exceptions.RayTaskError as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, AugmentoolkitError):
            raise cause from None
        raise
    except ray.exceptions.RayError as error:
        raise RunIncomplete(
            f"a Ray worker was lost {ATTEMPTS} times in a row ({type(error).__name__}); the "
            "datasets were not written. Run the same command again: finished calls are kept."
        ) from None


def _absorb(run: PipelineRun, report: ShardReport) -> None:
    """Add a shard's counts to the run's, as if this process had done its chunks."""
    for stage in run.stages:
        part = report.outcomes.get(stage.name)
        if part is None:
            continue
        run.tally.outcomes.setdefault(stage.name, StageOutcome(stage.name)).absorb(part)
        _, longest = run.tally.clock.get(stage.name, (0.0, 0.0))
        run.tally.clock[stage.name] = (0.0, max(longest, report.seconds[stage.name]))
    for step, stats in report.stats.items():
        add_counts(run.ctx.stats.setdefault(step, StepStats()), stats)
    for model, usage in report.usage.items():
        add_counts(run.ctx.engine.usage.setdefault(model, ModelUsage()), usage)
    run.unfinished += report.unfinished


def _counter(run: PipelineRun) -> Any:
    def count(stage: Any, rows: list[dict[str, Any]]) -> None:
        if stage.count is not None:
            stage.count(run.counts, rows)

    return count
