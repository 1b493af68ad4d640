"""Small builders shared by tests: a real engine and generation context against the scripted
server, with fast retry backoff."""

from __future__ import annotations

from pathlib import Path

from augmentoolkit.config import Secret
from augmentoolkit.generation_functions.engine_wrapper import (
    EngineWrapper,
    RetryPolicy,
)
from augmentoolkit.generation_functions.generation_step import GenerationContext
from augmentoolkit.generation_functions.openai_backend import OpenAIBackend
from augmentoolkit.generation_functions.prompts import PromptLibrary
from augmentoolkit.generation_functions.store import Store


def fast_retry(max_retries: int = 4) -> RetryPolicy:
    return RetryPolicy(max_retries=max_retries, base_delay=0.01, max_delay=0.05)


def make_engine(
    base_url: str,
    *,
    concurrency: int = 4,
    timeout: float = 5.0,
    key: str = "",
    send_stop: bool = True,
    max_retries: int = 4,
) -> EngineWrapper:
    backend = OpenAIBackend(base_url, Secret(key), timeout)
    return EngineWrapper(
        backend, concurrency=concurrency, send_stop=send_stop, retry=fast_retry(max_retries)
    )


def make_context(
    base_url: str,
    prompts: Path,
    output: Path,
    *,
    overrides: Path | None = None,
    completion_mode: bool = False,
    parse_retries: int = 2,
) -> GenerationContext:
    return GenerationContext(
        engine=make_engine(base_url),
        prompts=PromptLibrary(overrides or prompts, prompts),
        store=Store(output / "store"),
        models={"small": "small-model", "large": "large-model"},
        completion_mode=completion_mode,
        parse_retries=parse_retries,
    )


async def close_context(ctx: GenerationContext) -> None:
    ctx.store.close()
    await ctx.engine.close()
