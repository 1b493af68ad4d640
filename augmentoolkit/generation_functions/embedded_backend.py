"""The embedded default: API.BASE_URL `embedded` runs the small model shipped as a package
(SmolLM2-135M-Instruct, see local_model.py) behind a llama.cpp server on 127.0.0.1 that this
backend starts on the first request and stops when the run closes. No API key, no manual start.

The server starts lazily, so `--check` and a rerun whose every call is cached never start it.
Replies without a grammar are capped at EMBEDDED_MAX_TOKENS: the small model tends to ramble to
the limit, and on 2 CPU cores every generated token costs about 15-30 ms. A grammar bounds its
reply itself, and a cap would cut a quoted answer short. Everything else is the OpenAI backend.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from augmentoolkit.config import Secret
from augmentoolkit.generation_functions.engine_wrapper import Completion, Sampling
from augmentoolkit.generation_functions.local_model import EmbeddedServer
from augmentoolkit.generation_functions.openai_backend import OpenAIBackend
from augmentoolkit.generation_functions.prompts import RenderedPrompt

EMBEDDED_MAX_TOKENS = 512  # for replies without a grammar: the small model rambles to any limit
EMBEDDED_SLOTS = 2  # requests the server works on at once; more wait in its queue


class EmbeddedBackend:
    """Starts the embedded server on first use and talks to it like any OpenAI server."""

    label = "embedded"

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.server = EmbeddedServer(parallel=EMBEDDED_SLOTS)
        self._client: OpenAIBackend | None = None
        self._starting = asyncio.Lock()

    async def _ready(self) -> OpenAIBackend:
        async with self._starting:
            if self._client is None:
                url = await asyncio.to_thread(self.server.start)
                self._client = OpenAIBackend(url, Secret(""), self.timeout)
        return self._client

    async def complete(
        self, prompt: RenderedPrompt, model: str, sampling: Sampling, stop: list[str], step: str
    ) -> Completion:
        client = await self._ready()
        if not sampling.grammar:  # a grammar bounds the reply itself; a cap would cut it short
            sampling = replace(sampling, max_tokens=min(sampling.max_tokens, EMBEDDED_MAX_TOKENS))
        return await client.complete(prompt, model, sampling, stop, step)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
        await asyncio.to_thread(self.server.stop)
