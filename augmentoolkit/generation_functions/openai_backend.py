"""MODE api: chat or completion requests to one OpenAI-compatible server through
`openai.AsyncOpenAI`, and the mapping of its errors onto retry / stop-the-run / fail-the-item."""

from __future__ import annotations

import re
from typing import Any

import openai

from augmentoolkit.config import Secret
from augmentoolkit.errors import EngineUnavailable, PromptTooLong
from augmentoolkit.generation_functions.endpoints import TransientError
from augmentoolkit.generation_functions.engine_wrapper import (
    Completion,
    Sampling,
    public_url,
)
from augmentoolkit.generation_functions.prompts import RenderedPrompt

STEP_HEADER = "X-Augmentoolkit-Step"
# Placeholder for servers that want no key; the openai client refuses an empty one.
NO_KEY = "no-key-needed"


class OpenAIBackend:
    """Chat or completion requests to one endpoint through openai.AsyncOpenAI; its own retries
    are off (EngineWrapper retries, on whichever endpoint has room)."""

    def __init__(self, base_url: str, api_key: Secret, timeout: float) -> None:
        self.label = public_url(base_url)
        self._settings = (base_url, api_key, timeout)
        self._client: openai.AsyncOpenAI | None = None

    @property
    def client(self) -> openai.AsyncOpenAI:
        """Made on first use: building one loads the system's CA certificates (about 40 ms),
        which a rerun served wholly from the store never needs."""
        if self._client is None:
            base_url, api_key, timeout = self._settings
            self._client = openai.AsyncOpenAI(
                api_key=api_key.reveal() or NO_KEY,
                base_url=base_url,
                timeout=timeout,
                max_retries=0,
            )
        return self._client

    async def complete(
        self, prompt: RenderedPrompt, model: str, sampling: Sampling, stop: list[str], step: str
    ) -> Completion:
        options: dict[str, Any] = {
            "model": model,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "extra_headers": {STEP_HEADER: step} if step else None,
        }
        if stop:
            options["stop"] = stop
        if sampling.grammar:
            options["extra_body"] = {"grammar": sampling.grammar}
        if sampling.seed is not None:
            options["seed"] = sampling.seed
        try:
            if prompt.messages is not None:
                chat = await self.client.chat.completions.create(
                    messages=list(prompt.messages),  # type: ignore[arg-type]
                    **options,
                )
                choice = chat.choices[0]
                text, usage, finish = choice.message.content or "", chat.usage, choice.finish_reason
            else:
                done = await self.client.completions.create(prompt=prompt.text or "", **options)
                first = done.choices[0]
                text, usage, finish = first.text or "", done.usage, first.finish_reason
        except Exception as error:
            # A server may echo the request's headers in its error text: never pass the key on.
            raise _classify(error, model, self._settings[1]) from None
        prompt_tokens = usage.prompt_tokens if usage else len(prompt.as_key_text()) // 4
        completion_tokens = usage.completion_tokens if usage else len(text) // 4
        return Completion(text, prompt_tokens, completion_tokens, str(finish or ""))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


# How OpenAI, vLLM, llama.cpp and others word a prompt that does not fit the context window.
TOO_LONG = re.compile(
    r"context (?:length|size|window)|context_length|maximum context|prompt is too long"
    r"|too many tokens|exceed_context_size|exceeds? the (?:\S+ ){0,2}context",
    re.IGNORECASE,
)


def _classify(error: Exception, model: str, key: Secret | None = None) -> Exception:
    """Map an openai error to TransientError (retry) or EngineUnavailable (stop the run); any
    text taken from the server has the key masked."""
    masked = key.mask if key is not None else (lambda text: text)
    if isinstance(error, openai.RateLimitError):
        return TransientError("429 rate limited", _retry_after(error.response), rate_limited=True)
    if isinstance(error, openai.APITimeoutError):
        return TransientError("request timed out")
    if isinstance(error, openai.APIConnectionError):
        return TransientError("connection failed or dropped")
    if isinstance(error, openai.APIStatusError) and error.status_code >= 500:
        return TransientError(f"server error {error.status_code}", _retry_after(error.response))
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return EngineUnavailable(
            f"the server refused the API key ({error.status_code}). Set API.API_KEY in "
            "config.yaml or AUGMENTOOLKIT_API_KEY / OPENAI_API_KEY in the environment."
        )
    if isinstance(error, openai.NotFoundError):
        return EngineUnavailable(
            f"the server answered 404 for model {model!r}. Check API.LOGICAL_MODEL / "
            "API.LARGE_LOGICAL_MODEL and that API.BASE_URL ends in /v1."
        )
    if isinstance(error, openai.APIStatusError) and TOO_LONG.search(error.message or ""):
        return PromptTooLong(
            f"the prompt is longer than the model's context ({error.status_code}: "
            f"{_short(masked(error.message))}). Lower SYSTEM.CHUNK_SIZE, or serve the model "
            "with a longer context."
        )
    if isinstance(error, openai.APIStatusError):
        return EngineUnavailable(
            f"the server rejected the request ({error.status_code}): "
            f"{_short(masked(error.message))}. "
            "Check the model name and SYSTEM.COMPLETION_MODE for this server."
        )
    if isinstance(error, ValueError | TypeError | KeyError | IndexError | AttributeError):
        return TransientError(f"malformed response: {_short(masked(str(error)))}")
    return TransientError(f"{type(error).__name__}: {_short(masked(str(error)))}")


def _retry_after(response: Any) -> float | None:
    try:
        value = response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, ValueError):
        return None


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
