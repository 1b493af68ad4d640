"""Look before you pay: `--check` sends each server one tiny request per model it serves
(LOGICAL_MODEL on API.BASE_URL's servers; LARGE_LOGICAL_MODEL, when it differs, on
LARGE_BASE_URL's or else BASE_URL's, with its role's key) and one more that carries a one-rule
GBNF grammar in llama.cpp's `grammar` field, the field API.GRAMMARS sends. Per server it says
whether each model answers (or why not, in one line), how long the answer took, and what the
server did with the grammar:

    honoured   the reply is exactly what the grammar allows ("42", asked to say hello): the
               server constrains decoding, as llama.cpp does, so API.GRAMMARS: always works
    ignored    a normal reply that does not follow it: the server drops fields it does not know
               (vLLM, Ollama and most OpenAI-compatible servers other than llama.cpp)
    refused    the server answered the field with an error (OpenAI refuses unknown fields)

Only "honoured" counts as accepting it. Requests are capped at 4 and 8 tokens and wait at most
PROBE_TIMEOUT seconds. Nothing is stored and nothing under PATH.OUTPUT is touched. The embedded
model is started only when asked (`--probe-embedded`: a few seconds, then stopped), since every
run starts it itself; MODE aphrodite's in-process engine is not probed. Server messages pass
through the engine's classifier, which masks the API key; the key itself is never printed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from augmentoolkit.config import EMBEDDED, Config, Secret
from augmentoolkit.context import model_names, uses_grammars
from augmentoolkit.errors import EngineError
from augmentoolkit.generation_functions.embedded_backend import EmbeddedBackend
from augmentoolkit.generation_functions.endpoints import TransientError
from augmentoolkit.generation_functions.engine_wrapper import (
    Backend,
    Sampling,
    public_url,
)
from augmentoolkit.generation_functions.local_model import default_model_path
from augmentoolkit.generation_functions.openai_backend import OpenAIBackend
from augmentoolkit.generation_functions.prompts import RenderedPrompt

PROBE_TIMEOUT = 60.0  # seconds; a server loading its model on the first request may need this
ASK = "Say hello."
ANSWER = Sampling(temperature=0.0, max_tokens=4)
GRAMMAR_REPLY = "42"  # what the grammar allows; no model says it unprompted to ASK
GRAMMAR = Sampling(temperature=0.0, max_tokens=8, grammar=f'root ::= "{GRAMMAR_REPLY}"')
ANSWER_STEP, GRAMMAR_STEP = "check_answer", "check_grammar"  # their X-Augmentoolkit-Step
HONOURED = "honoured"
CONNECTION_HINT = "; is a server listening at this URL?"


@dataclass(frozen=True)
class ModelProbe:
    model: str
    problem: str = ""  # why it did not answer; empty when it did
    ms: float = 0.0


@dataclass
class EndpointProbe:
    name: str  # the URL without credentials, or "embedded"
    models: list[ModelProbe] = field(default_factory=list)
    grammar: str = ""  # honoured, ignored (...), refused: ..., or why it was not tried
    note: str = ""  # what stands in for a probe (the embedded model, aphrodite)

    @property
    def answers(self) -> bool:
        return all(not m.problem for m in self.models)

    def lines(self, grammars_on: bool) -> list[str]:
        if self.note:
            return [f"  {self.name}: {self.note}"]
        out = [f"  {self.name}"]
        for m in self.models:
            said = f"no answer: {m.problem}" if m.problem else f"answers ({m.ms:.0f} ms)"
            out.append(f"    {m.model}: {said}")
        sent = "API.GRAMMARS sends it here" if grammars_on else "API.GRAMMARS does not send it"
        out.append(f"    grammar field: {self.grammar} ({sent})")
        return out


def prompt(completion_mode: bool) -> RenderedPrompt:
    if completion_mode:
        return RenderedPrompt(None, ASK + "\n")
    return RenderedPrompt(({"role": "user", "content": ASK},), None)


def reason(error: Exception) -> str:
    text = str(error)
    if isinstance(error, TransientError) and "connection" in text:
        return text + CONNECTION_HINT
    return text


async def ask(backend: Backend, model: str, completion_mode: bool) -> ModelProbe:
    started = time.monotonic()
    try:
        await backend.complete(prompt(completion_mode), model, ANSWER, [], ANSWER_STEP)
    except (EngineError, TransientError) as error:
        return ModelProbe(model, reason(error))
    return ModelProbe(model, ms=(time.monotonic() - started) * 1000)


async def try_grammar(backend: Backend, model: str, completion_mode: bool) -> str:
    try:
        done = await backend.complete(prompt(completion_mode), model, GRAMMAR, [], GRAMMAR_STEP)
    except EngineError as error:
        return f"refused: {reason(error)}"
    except TransientError as error:
        return f"no answer to it: {reason(error)}"
    if done.text.strip() == GRAMMAR_REPLY:
        return HONOURED
    shown = " ".join(done.text.split())[:40]
    return f"ignored (the reply did not follow it: {shown!r})"


Ask = tuple[str, Secret]  # a model name and the key its role sends


def server_plan(config: Config) -> dict[str, list[Ask]]:
    """What to ask where: each server of each role (BASE_URL's for the small model,
    LARGE_BASE_URL's or else BASE_URL's for the large one), its models in role order, once."""
    api, names = config.API, model_names(config)
    plan: dict[str, list[Ask]] = {}
    for role in ("small", "large"):
        for url in api.urls_of(role):
            asks = plan.setdefault(url, [])
            if (names[role], api.key_of(role)) not in asks:
                asks.append((names[role], api.key_of(role)))
    return plan


async def probe_server(url: str, asks: list[Ask], config: Config) -> EndpointProbe:
    """Probe one server with one client per key it is sent."""
    timeout = min(config.API.REQUEST_TIMEOUT, PROBE_TIMEOUT)
    clients: dict[Secret, Backend] = {}
    try:
        for _, key in asks:
            clients.setdefault(key, OpenAIBackend(url, key, timeout))
        return await probe_backend(public_url(url), [(m, clients[k]) for m, k in asks], config)
    finally:
        for client in clients.values():
            await client.close()


async def probe_backend(
    name: str, asks: list[tuple[str, Backend]], config: Config
) -> EndpointProbe:
    """Each model once, then the grammar with the first model if it answered."""
    report = EndpointProbe(name)
    completion_mode = config.SYSTEM.COMPLETION_MODE
    for model, backend in asks:
        report.models.append(await ask(backend, model, completion_mode))
    (model, backend), first = asks[0], report.models[0]
    report.grammar = (
        await try_grammar(backend, model, completion_mode)
        if not first.problem
        else "not tried (the model did not answer)"
    )
    return report


def embedded_note(config: Config) -> EndpointProbe:
    """The embedded model unprobed: installed or not, without starting it."""
    try:
        model = default_model_path()
    except EngineError as error:
        return EndpointProbe(EMBEDDED, [ModelProbe(config.API.LOGICAL_MODEL, str(error))])
    return EndpointProbe(
        EMBEDDED,
        note=f"started by the run itself (llama.cpp on 127.0.0.1, {model.name} installed); "
        "not probed: add --probe-embedded to start it now (a few seconds)",
    )


async def probe_endpoints(config: Config, probe_embedded: bool = False) -> list[EndpointProbe]:
    """One EndpointProbe per server of API.BASE_URL and LARGE_BASE_URL, all at once."""
    if config.SYSTEM.MODE == "aphrodite":
        return [
            EndpointProbe("aphrodite", note="the in-process engine, loaded by the run; not probed")
        ]
    if config.API.base_urls == (EMBEDDED,):
        return [await probe_embedded_model(config) if probe_embedded else embedded_note(config)]
    plan = server_plan(config)
    return list(await asyncio.gather(*(probe_server(u, a, config) for u, a in plan.items())))


async def probe_embedded_model(config: Config) -> EndpointProbe:
    """Start the embedded model, ask it, stop it."""
    backend = EmbeddedBackend(min(config.API.REQUEST_TIMEOUT, PROBE_TIMEOUT))
    try:
        names = dict.fromkeys(model_names(config).values())
        return await probe_backend(EMBEDDED, [(name, backend) for name in names], config)
    finally:
        await backend.close()


def describe(config: Config, probes: list[EndpointProbe]) -> list[str]:
    grammars_on = uses_grammars(config)
    lines = ["endpoints (one tiny request per model and one with a grammar; --offline skips this):"]
    for probe in probes:
        lines += probe.lines(grammars_on)
    return lines


def problem(config: Config, probes: list[EndpointProbe]) -> str:
    """Why the run would not get far, in one line; empty when every server is ready."""
    silent = [p.name for p in probes if not p.answers]
    if silent:
        return (
            f"{', '.join(silent)}: a model did not answer (see above). Fix API.BASE_URL, the "
            "model names or the key; --check --offline checks the config and prompts alone."
        )
    ignoring = [p.name for p in probes if p.grammar and p.grammar != HONOURED]
    if uses_grammars(config) and ignoring:
        return (
            f"{', '.join(ignoring)}: API.GRAMMARS sends grammars there, but the server does not "
            "honour them (see above). Set API.GRAMMARS: auto or never, or serve the model with "
            "llama.cpp."
        )
    return ""
