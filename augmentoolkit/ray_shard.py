"""One Ray worker's job: take the chunks of one shard through the stage table with the same
orchestration as a local run (PipelineRun.work_through_stages), writing only the shard's own
files (shards.py), and report what it did. Ray retries the task if its worker dies; the retry is
a new attempt with a new store file, which reads the dead attempt's calls after sealing them,
so finished calls are not paid again and no row is written twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, fields
from typing import Any

from augmentoolkit.config import Config
from augmentoolkit.context import build_backend, build_context
from augmentoolkit.control_flow_functions.progress import StageOutcome
from augmentoolkit.generation_functions.engine_wrapper import EngineWrapper, ModelUsage
from augmentoolkit.generation_functions.generation_step import StepStats
from augmentoolkit.generation_functions.store import Store, seal_files
from augmentoolkit.pipeline import PipelineRun
from augmentoolkit.ray_actors import GatewayPool, ShardBoard, share_spending
from augmentoolkit.run_log import setup_logging
from augmentoolkit.shards import ShardPlan
from augmentoolkit.stage_folders import StageFolders
from augmentoolkit.stages import STAGES, Stage

ROLES = ("small", "large")


@dataclass
class ShardReport:
    """What one shard did: each stage's counts and seconds, each step's and model's counters,
    and how many of its chunks a server failure left unfinished."""

    shard: int
    outcomes: dict[str, StageOutcome] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    stats: dict[str, StepStats] = field(default_factory=dict)
    usage: dict[str, ModelUsage] = field(default_factory=dict)
    unfinished: int = 0


@dataclass(frozen=True)
class ShardJob:
    """What one shard's task gets: the run's config and shard plan, which shard, the stage
    folders' fingerprint, and the run's shared actors (the gateway only when servers are
    shared)."""

    config: Config
    plan: ShardPlan
    shard: int
    fingerprint: str
    ledger: Any
    gateway: Any | None
    stages: tuple[Stage, ...] = STAGES


def run_shard(job: ShardJob) -> ShardReport:
    """The Ray task: one attempt at one shard (a plain function, so it is testable without
    Ray: pass objects with the actors' methods)."""
    setup_logging(job.plan.folder(job.shard))
    return asyncio.run(_attempt(job))


async def _attempt(job: ShardJob) -> ShardReport:
    attempt = job.plan.record_attempt(job.shard)
    holder = f"shard-{job.shard}."
    await job.ledger.started.remote(job.shard, attempt)
    if job.gateway is not None:
        await job.gateway.retire.remote(holder)  # slots an earlier, dead attempt still held
    run = _open(job, attempt)
    board = ShardBoard(job.ledger, job.shard, attempt, run._board_stats)
    run.board = board
    try:
        await run.work_through_stages()
        sent = board.flush()
        if sent is not None:
            await sent  # the last counts are in the ledger before the driver hears "done"
        return _report(job.shard, run)
    finally:
        await run.close()
        if job.gateway is not None:
            await job.gateway.retire.remote(holder + attempt)


def _open(job: ShardJob, attempt: str) -> PipelineRun:
    """The shard's run: its servers, its own store file and stage folders, its board."""
    config, plan, shard = job.config, job.plan, job.shard
    store_name = plan.store_name(shard, attempt)
    seal_files(plan.earlier_attempts(shard, store_name))
    store = Store(config.PATH.OUTPUT / "store", store_name, single_writer=True)
    own = {role: plan.endpoints_of(shard, config.API.urls_of(role)) for role in ROLES}
    backend = build_backend(config, own["small"])
    ctx = build_context(config, backend, job.stages, store, large_urls=own["large"])
    if job.gateway is not None:
        _ask_gateway(ctx.engine, own, job.gateway, f"shard-{shard}.{attempt}")
    if config.COST.BUDGET:
        share_spending(ctx.engine, job.ledger, attempt)
    folders = StageFolders(plan.folder(shard), job.stages, job.fingerprint, single_writer=True)
    return PipelineRun(config, ctx, folders, job.stages, owns=plan.owns(shard))


def _ask_gateway(
    engine: EngineWrapper,
    own: dict[str, tuple[str, ...] | None],
    gateway: Any,
    holder: str,
) -> None:
    """Each role without servers of its own gets its slots from the gateway (the large role
    keeps sharing the small role's pool when it has no servers of its own)."""
    shared = engine.pools["large"] is engine.pools["small"]
    for role in ROLES:
        if own[role] is None and not (role == "large" and shared):
            pool = engine.pools[role]
            engine.pools[role] = GatewayPool(pool.endpoints, gateway, holder, role)
    if shared:
        engine.pools["large"] = engine.pools["small"]


def _report(shard: int, run: PipelineRun) -> ShardReport:
    report = ShardReport(shard, unfinished=run.unfinished)
    for stage in run.stages:
        outcome = run.tally.close(stage)
        report.outcomes[stage.name] = outcome
        report.seconds[stage.name] = outcome.seconds
    report.stats = dict(run.ctx.stats)
    report.usage = dict(run.ctx.engine.usage)
    return report


def add_counts(into: Any, part: Any) -> None:
    """Add every numeric field of the dataclass `part` to `into`'s (StepStats, ModelUsage)."""
    for name in (f.name for f in fields(part)):
        setattr(into, name, getattr(into, name) + getattr(part, name))
