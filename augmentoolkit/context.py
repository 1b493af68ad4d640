"""What a run is built from: the backend(s), the engine, the prompt library (checked before any
call against the stage table's prompt list), the store, and the settings that decide what a
run produces. Does not run any stage."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from augmentoolkit.config import EMBEDDED, Config
from augmentoolkit.control_flow_functions.inputs import input_files
from augmentoolkit.errors import PromptError
from augmentoolkit.generation_functions.aphrodite_backend import (
    AphroditeBackend,
    aphrodite_engine_args,
)
from augmentoolkit.generation_functions.embedded_backend import EMBEDDED_SLOTS, EmbeddedBackend
from augmentoolkit.generation_functions.engine_wrapper import (
    Backend,
    EngineWrapper,
    RetryPolicy,
)
from augmentoolkit.generation_functions.generation_step import GenerationContext, GenerationStep
from augmentoolkit.generation_functions.openai_backend import OpenAIBackend
from augmentoolkit.generation_functions.original_prompts import adopt_for_run
from augmentoolkit.generation_functions.prompts import PromptLibrary
from augmentoolkit.generation_functions.store import FILE_NAME as STORE_FILE
from augmentoolkit.generation_functions.store import Store
from augmentoolkit.generation_functions.store_files import seal_other_files
from augmentoolkit.io_utils import write_json_atomic
from augmentoolkit.stages import STAGES, Stage

# Bump when the rows a stage writes change shape, so old stage folders are rebuilt.
# 2: validation rows hold every vote ("checks", "votes"; control_flow_functions/verdicts.py).
STAGE_ROWS_VERSION = 2


def run_steps(config: Config, stages: tuple[Stage, ...] = STAGES) -> list[GenerationStep[Any]]:
    """Every model step this configuration will use, in run order, each once."""
    steps = {step.name: step for stage in stages for step in stage.needs(config)}
    return list(steps.values())


def run_files(config: Config, stages: tuple[Stage, ...] = STAGES) -> list[str]:
    """Every other prompt-folder file this configuration will use (the trait list)."""
    return list(dict.fromkeys(name for stage in stages for name in stage.files(config)))


def check_prompts(prompts: PromptLibrary, config: Config, stages: tuple[Stage, ...]) -> None:
    """Load every prompt the run will use and fill it with the values its step gives (an
    unknown $variable or a stray $ fails here, before any call); find every other file. The
    original's prompt files in PATH.PROMPTS are used or noted first (prompts.notices)."""
    adopt_for_run(prompts, config, stages)
    steps = run_steps(config, stages)
    prompts.check([step.name for step in steps])
    problems = []
    for step in steps:
        try:
            prompts.load(step.name).fill({name: "x" for name in step.variables})
        except PromptError as error:
            problems.append(str(error))
    if problems:
        raise PromptError("\n".join(problems))
    for filename in run_files(config, stages):
        prompts.locate_file(filename)


def build_backend(
    config: Config, urls: tuple[str, ...] | None = None, role: str = "small"
) -> Backend | list[Backend]:
    """The in-process engine, the embedded small model, or one OpenAI client per server of the
    role (API.BASE_URL's, or LARGE_BASE_URL's for "large"; `urls`: a Ray shard's own ones)."""
    if config.SYSTEM.MODE == "aphrodite":
        a = config.APHRODITE
        return AphroditeBackend(
            aphrodite_engine_args(a.MODEL, a.QUANTIZATION, a.MAX_MODEL_LEN, a.DTYPE)
        )
    api = config.API
    if api.base_urls == (EMBEDDED,):
        return EmbeddedBackend(api.REQUEST_TIMEOUT)
    key = api.key_of(role)
    clients: list[Backend] = [
        OpenAIBackend(url, key, api.REQUEST_TIMEOUT) for url in urls or api.urls_of(role)
    ]
    return clients[0] if len(clients) == 1 else clients


def model_names(config: Config) -> dict[str, str]:
    """Model per role: "small" runs every step but conversation writing, "large" writes."""
    if config.SYSTEM.MODE == "aphrodite":
        return {"small": config.APHRODITE.MODEL, "large": config.APHRODITE.MODEL}
    return {"small": config.API.LOGICAL_MODEL, "large": config.API.LARGE_LOGICAL_MODEL}


def model_prices(config: Config) -> dict[str, tuple[float, float]]:
    """USD per million (prompt, completion) tokens per model name."""
    names, cost = model_names(config), config.COST
    prices = {names["small"]: (cost.LOGICAL_INPUT_PRICE, cost.LOGICAL_OUTPUT_PRICE)}
    if names["large"] != names["small"]:
        prices[names["large"]] = (cost.LARGE_INPUT_PRICE, cost.LARGE_OUTPUT_PRICE)
    return prices


def concurrency(config: Config, backend: Backend | list[Backend]) -> int:
    """Requests in flight per server: more would only queue inside the embedded server."""
    if isinstance(backend, EmbeddedBackend):
        return min(config.SYSTEM.CONCURRENCY_LIMIT, EMBEDDED_SLOTS)
    return config.SYSTEM.CONCURRENCY_LIMIT


def open_run_store(output: Path) -> Store:
    """OUTPUT/store for the run that holds the output lock: every other writer is gone, so
    their files (Ray shards, earlier attempts) are sealed first and read from then on."""
    folder = output / "store"
    seal_other_files(folder, STORE_FILE)
    return Store(folder)


def build_context(
    config: Config,
    backend: Backend | list[Backend] | None = None,
    stages: tuple[Stage, ...] = STAGES,
    store: Store | None = None,
    large_urls: tuple[str, ...] | None = None,
) -> GenerationContext:
    """Engine, prompt library (checked now) and store for a run of this configuration; the
    store is OUTPUT/store's main file unless one is given (a Ray shard brings its own, and may
    take only some of the large role's servers: `large_urls`)."""
    prompts = PromptLibrary(config.PATH.PROMPTS, config.PATH.DEFAULT_PROMPTS)
    check_prompts(prompts, config, stages)
    backend = backend or build_backend(config)
    large = None
    if config.SYSTEM.MODE == "api" and config.API.large_has_own_servers:
        large_backend = build_backend(config, large_urls, role="large")
        large = (large_backend, config.SYSTEM.concurrency_of("large"))
    engine = EngineWrapper(
        backend,
        concurrency=concurrency(config, backend),
        send_stop=config.SYSTEM.STOP,
        retry=RetryPolicy(max_retries=config.API.MAX_RETRIES),
        prices=model_prices(config),
        budget=config.COST.BUDGET,
        large=large,
    )
    return GenerationContext(
        engine=engine,
        prompts=prompts,
        store=store or open_run_store(config.PATH.OUTPUT),
        models=model_names(config),
        completion_mode=config.SYSTEM.COMPLETION_MODE,
        parse_retries=config.SYSTEM.PARSE_RETRIES,
        grammars=uses_grammars(config),
        output_language=config.SYSTEM.OUTPUT_LANGUAGE,
    )


def uses_grammars(config: Config) -> bool:
    """API.GRAMMARS: `always`, or `auto` with the embedded model (a llama.cpp server we run)."""
    grammars = config.API.GRAMMARS
    embedded = config.SYSTEM.MODE == "api" and config.API.base_urls == (EMBEDDED,)
    return grammars == "always" or (grammars == "auto" and embedded)


def requests_in_flight(engine: EngineWrapper) -> int:
    """The most requests all servers may have in flight at once (each endpoint's ceiling)."""
    return sum(endpoint.limiter.ceiling for endpoint in engine.endpoints)


def chunks_in_flight(config: Config, engine: EngineWrapper) -> int:
    """SYSTEM.CHUNKS_IN_FLIGHT, or twice the requests all servers may have in flight: enough
    chunks to keep every slot busy, few enough that memory stays small."""
    if config.SYSTEM.CHUNKS_IN_FLIGHT:
        return config.SYSTEM.CHUNKS_IN_FLIGHT
    return max(2, 2 * requests_in_flight(engine))


def shaping_settings(config: Config) -> dict[str, Any]:
    """The settings that decide what a run produces (not how fast or at what cost)."""
    system = config.SYSTEM
    return {
        "INPUT": str(config.PATH.INPUT),
        "models": model_names(config),
        "CHUNK_SIZE": system.CHUNK_SIZE,
        "USE_SUBSET": system.USE_SUBSET,
        "SUBSET_SIZE": system.SUBSET_SIZE,
        "USE_FILENAMES": system.USE_FILENAMES,
        "ASSISTANT_MODE": system.ASSISTANT_MODE,
        "COMPLETION_MODE": system.COMPLETION_MODE,
        "DOUBLE_CHECK_COUNTER": system.DOUBLE_CHECK_COUNTER,
        "QA_REGENERATIONS": system.QA_REGENERATIONS,
        "MIN_ANSWER_GROUNDING": system.MIN_ANSWER_GROUNDING,
        "REARRANGEMENTS_TO_TAKE": system.REARRANGEMENTS_TO_TAKE,
        "SEED": system.SEED,
        # Only when set, so that folders made before the key existed keep their fingerprint.
        **({"OUTPUT_LANGUAGE": system.OUTPUT_LANGUAGE} if system.OUTPUT_LANGUAGE else {}),
    }


def run_fingerprint(config: Config, ctx: GenerationContext, stages: tuple[Stage, ...]) -> str:
    """A hash of everything the stage folders' rows depend on besides the store: the shaping
    settings, the stage table, the prompt texts, grammars on or off, and the input files
    (path, size, modification time). Equal fingerprints: the rows already written still hold."""
    prompts = [
        (step.name, [list(m) for m in ctx.prompts.load(step.name).messages])
        for step in run_steps(config, stages)
    ] + [
        (name, ctx.prompts.locate_file(name).read_text(encoding="utf-8"))
        for name in run_files(config, stages)
    ]
    inputs = [
        (path.relative_to(config.PATH.INPUT).as_posix(), stat.st_size, stat.st_mtime_ns)
        for path in input_files(config.PATH.INPUT, config.PATH.OUTPUT)
        for stat in (path.stat(),)
    ]
    payload = {
        "version": STAGE_ROWS_VERSION,
        "settings": shaping_settings(config),
        "stages": [(s.name, s.path) for s in stages],
        "grammars": ctx.grammars,
        "prompts": prompts,
        "inputs": inputs,
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def note_changed_settings(config: Config, say: Callable[[str], None]) -> None:
    """Warn when settings that shape the dataset differ from the last run in this OUTPUT."""
    path = config.PATH.OUTPUT / "run_settings.json"
    current = shaping_settings(config)
    previous = json.loads(path.read_text(encoding="utf-8")) if path.exists() else current
    changed = [
        f"{k} ({previous.get(k)!r} -> {v!r})" for k, v in current.items() if previous.get(k) != v
    ]
    if changed:
        say(
            f"warning: settings changed since the last run in {config.PATH.OUTPUT}: "
            f"{', '.join(changed)}. Finished calls are reused where they still apply and the "
            "datasets will reflect the new settings; use another PATH.OUTPUT to keep both."
        )
    write_json_atomic(path, current)
