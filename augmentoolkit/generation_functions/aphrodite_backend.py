"""MODE aphrodite: the in-process aphrodite-engine (Linux + CUDA GPU only; untestable on CPU
machines beyond its argument mapping and error paths)."""

from __future__ import annotations

from typing import Any

from augmentoolkit.errors import EngineError
from augmentoolkit.generation_functions.endpoints import TransientError
from augmentoolkit.generation_functions.engine_wrapper import Completion, Sampling
from augmentoolkit.generation_functions.prompts import RenderedPrompt


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
