"""Load config.yaml, check every key before any model call, and resolve the API key.

The config mirrors config.yaml's sections as frozen dataclasses. `load_config(path)` collects
every problem it finds (unknown keys, wrong types, out-of-range numbers, a missing input folder,
an unknown MODE, impossible combinations) and raises one ConfigError listing them all, each with
its fix. Relative paths are resolved against the folder that holds the config file.

API.BASE_URL is one URL, a list of URLs (requests are spread over them), or the literal
`embedded`. The API key may come from API.API_KEY or the environment (AUGMENTOOLKIT_API_KEY, then
OPENAI_API_KEY). It is kept in a `Secret`, whose repr and str never show the value.
Does not start any engine or read any input text.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from augmentoolkit.errors import ConfigError
from augmentoolkit.original_config import adopt_original_keys, unknown_key_hint

KEY_ENV_VARS = ("AUGMENTOOLKIT_API_KEY", "OPENAI_API_KEY")
HUB_TOKEN_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")  # SYSTEM.PUSH_TO_HUB's token, in order
HUB_REPO = re.compile(r"[\w.-]+/[\w.-]+")  # a Hub dataset id: owner/name
SECRET_KEYS = ("API.API_KEY", "API.LARGE_API_KEY")  # settings whose values no message may show
MODES = ("api", "aphrodite")
EXECUTORS = (
    "local",
    "ray",
)  # SYSTEM.EXECUTOR: this process, or a Ray cluster (augmentoolkit/ray_run.py)
GRAMMAR_CHOICES = ("auto", "always", "never")  # API.GRAMMARS; auto: on for the embedded model
OUTPUT_SHAPES = ("default", "original")  # SYSTEM.OUTPUT_SHAPE; original: also OUTPUT/original/
EMBEDDED = "embedded"  # API.BASE_URL value that names no server (wired by the embedded model)


class Secret:
    """A string that never prints itself. Example: str(Secret("sk-1")) -> '***'."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    def __str__(self) -> str:
        return "***" if self._value else ""

    def mask(self, text: str) -> str:
        """`text` with the value replaced by ***. Example: Secret("k1").mask("a k1") -> 'a ***'."""
        return text.replace(self._value, "***") if self._value else text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class PathConfig:
    INPUT: Path
    OUTPUT: Path
    DEFAULT_PROMPTS: Path
    PROMPTS: Path


@dataclass(frozen=True)
class ApiConfig:
    API_KEY: Secret
    BASE_URL: str | tuple[str, ...]  # one URL (or "embedded"), or several as a tuple
    LOGICAL_MODEL: str
    LARGE_LOGICAL_MODEL: str
    REQUEST_TIMEOUT: float
    MAX_RETRIES: int
    GRAMMARS: str  # auto | always | never: constrain replies to each step's layout
    API_KEY_ENV: str = ""  # the environment variable holding API_KEY, if given
    LARGE_BASE_URL: str | tuple[str, ...] = ""  # "": the large role uses BASE_URL's servers
    LARGE_API_KEY: Secret = field(default_factory=lambda: Secret(""))  # resolved; "": API_KEY's
    LARGE_API_KEY_ENV: str = ""

    @property
    def base_urls(self) -> tuple[str, ...]:
        """Every URL, one or several. Example: "http://h/v1" -> ("http://h/v1",)."""
        return (self.BASE_URL,) if isinstance(self.BASE_URL, str) else self.BASE_URL

    @property
    def large_has_own_servers(self) -> bool:
        """True when LARGE_BASE_URL gives the large role (conversation writing) its own."""
        return self.LARGE_BASE_URL != ""

    def urls_of(self, role: str) -> tuple[str, ...]:
        """The servers of a model role: "small" (every step but writing conversations) or
        "large". Example: urls_of("large") -> BASE_URL's when LARGE_BASE_URL is empty."""
        if role == "large" and self.large_has_own_servers:
            url = self.LARGE_BASE_URL
            return (url,) if isinstance(url, str) else url
        return self.base_urls

    def key_of(self, role: str) -> Secret:
        return self.LARGE_API_KEY if role == "large" and self.LARGE_API_KEY else self.API_KEY


@dataclass(frozen=True)
class SystemConfig:
    USE_FILENAMES: bool
    ASSISTANT_MODE: bool
    DOUBLE_CHECK_COUNTER: int
    USE_SUBSET: bool
    SUBSET_SIZE: int
    CHUNK_SIZE: int
    REARRANGEMENTS_TO_TAKE: int
    CONCURRENCY_LIMIT: int
    COMPLETION_MODE: bool
    MODE: str
    GRAPH: bool
    STOP: bool
    PARSE_RETRIES: int
    QA_REGENERATIONS: int
    MIN_ANSWER_GROUNDING: float
    OUTPUT_LANGUAGE: str  # "": the language of each source text
    SEED: int
    META_DATAGEN: bool
    STREAMING: bool
    CHUNKS_IN_FLIGHT: int
    PROGRESS_INTERVAL: float
    EVAL_SHARE: float
    EXECUTOR: str
    RAY_ADDRESS: str
    RAY_WORKERS: int
    OUTPUT_SHAPE: str = "default"  # original: also the original's files in OUTPUT/original
    DEDUP_THRESHOLD: float = 0.0  # 0: off
    HF_DATASET: bool = True
    PUSH_TO_HUB: str = ""  # owner/name on the Hugging Face Hub; "": no push
    LARGE_CONCURRENCY_LIMIT: int = 0  # 0: CONCURRENCY_LIMIT

    def concurrency_of(self, role: str) -> int:
        """Requests in flight per server of a model role."""
        if role == "large" and self.LARGE_CONCURRENCY_LIMIT:
            return self.LARGE_CONCURRENCY_LIMIT
        return self.CONCURRENCY_LIMIT


@dataclass(frozen=True)
class AphroditeConfig:
    MODEL: str
    QUANTIZATION: str
    MAX_MODEL_LEN: int
    DTYPE: str


@dataclass(frozen=True)
class CostConfig:
    LOGICAL_INPUT_PRICE: float
    LOGICAL_OUTPUT_PRICE: float
    LARGE_INPUT_PRICE: float
    LARGE_OUTPUT_PRICE: float
    BUDGET: float


@dataclass(frozen=True)
class Config:
    PATH: PathConfig
    API: ApiConfig
    SYSTEM: SystemConfig
    APHRODITE: AphroditeConfig
    COST: CostConfig
    source: Path = field(default=Path("config.yaml"), compare=False)
    # One line per key read differently from how it is written (the original's keys,
    # original_config.py), for start-up and --check to show.
    notices: tuple[str, ...] = field(default=(), compare=False)


class UrlOrUrls:
    """Schema kind of API.BASE_URL: text, or a non-empty list of distinct texts (a tuple)."""


@dataclass(frozen=True)
class Between:
    """Schema rule of a number that has an upper bound too. Example: Between(0.0, 1.0)."""

    low: float
    high: float


# Each key: (type, default, rule): the rule is a lower bound or a Between for numbers, or the
# allowed values for text.
# Defaults apply when a key is absent; config.yaml documents the same values.
SCHEMA: dict[str, dict[str, tuple[type, Any, Any]]] = {
    "PATH": {
        "INPUT": (str, "./raw_txt_input", None),
        "OUTPUT": (str, "./output", None),
        "DEFAULT_PROMPTS": (str, "./prompts", None),
        "PROMPTS": (str, "./prompts", None),
    },
    "API": {
        "API_KEY": (str, "", None),
        "BASE_URL": (UrlOrUrls, EMBEDDED, None),
        "LOGICAL_MODEL": (str, "local-model", None),
        "LARGE_LOGICAL_MODEL": (str, "local-model", None),
        "REQUEST_TIMEOUT": (float, 300.0, Between(0.1, 86400.0)),
        "MAX_RETRIES": (int, 5, Between(0, 100)),
        "GRAMMARS": (str, "auto", GRAMMAR_CHOICES),
        "API_KEY_ENV": (str, "", None),
        "LARGE_BASE_URL": (UrlOrUrls, "", None),
        "LARGE_API_KEY": (str, "", None),
        "LARGE_API_KEY_ENV": (str, "", None),
    },
    "SYSTEM": {
        "USE_FILENAMES": (bool, False, None),
        "ASSISTANT_MODE": (bool, True, None),
        "DOUBLE_CHECK_COUNTER": (int, 3, 1),
        "USE_SUBSET": (bool, False, None),
        "SUBSET_SIZE": (int, 13, 1),
        "CHUNK_SIZE": (int, 400, 50),
        "REARRANGEMENTS_TO_TAKE": (int, 3, 1),
        "CONCURRENCY_LIMIT": (int, 50, Between(1, 4096)),
        "COMPLETION_MODE": (bool, False, None),
        "MODE": (str, "api", MODES),
        "GRAPH": (bool, False, None),
        "STOP": (bool, True, None),
        "PARSE_RETRIES": (int, 2, 0),
        "QA_REGENERATIONS": (int, 2, 0),
        "MIN_ANSWER_GROUNDING": (float, 0.5, Between(0.0, 1.0)),
        "OUTPUT_LANGUAGE": (str, "", None),
        "SEED": (int, 1048596, 0),
        "META_DATAGEN": (bool, False, None),
        "STREAMING": (bool, True, None),
        "CHUNKS_IN_FLIGHT": (int, 0, 0),
        "PROGRESS_INTERVAL": (float, 30.0, 0.1),
        "EVAL_SHARE": (float, 0.05, Between(0.0, 0.5)),
        "EXECUTOR": (str, "local", EXECUTORS),
        "RAY_ADDRESS": (str, "", None),
        "RAY_WORKERS": (int, 0, Between(0, 4096)),
        "OUTPUT_SHAPE": (str, "default", OUTPUT_SHAPES),
        "DEDUP_THRESHOLD": (float, 0.8, Between(0.0, 0.99)),
        "HF_DATASET": (bool, True, None),
        "PUSH_TO_HUB": (str, "", None),
        "LARGE_CONCURRENCY_LIMIT": (int, 0, Between(0, 4096)),
    },
    "APHRODITE": {
        "MODEL": (str, "", None),
        "QUANTIZATION": (str, "", None),
        "MAX_MODEL_LEN": (int, 12000, 512),
        "DTYPE": (str, "float16", None),
    },
    "COST": {
        "LOGICAL_INPUT_PRICE": (float, 0.0, 0.0),
        "LOGICAL_OUTPUT_PRICE": (float, 0.0, 0.0),
        "LARGE_INPUT_PRICE": (float, 0.0, 0.0),
        "LARGE_OUTPUT_PRICE": (float, 0.0, 0.0),
        "BUDGET": (float, 0.0, 0.0),
    },
}

TYPE_NAMES = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; ConfigError lists every problem found."""
    path = Path(path)
    problems: list[str] = []
    raw, notices = adopt_original_keys(_read_yaml(path), SCHEMA, problems)
    values = _check_schema(raw, problems)
    base = path.resolve().parent
    paths = {key: _resolve(base, values["PATH"][key]) for key in SCHEMA["PATH"]}
    _check_paths(paths, values["PATH"], problems)
    _check_combinations(values, problems)
    if problems:
        raise ConfigError(problems, source=str(path))
    return Config(
        PATH=PathConfig(**paths),
        API=ApiConfig(**{**values["API"], **resolve_api_keys(values["API"])}),
        SYSTEM=SystemConfig(**values["SYSTEM"]),
        APHRODITE=AphroditeConfig(**values["APHRODITE"]),
        COST=CostConfig(**values["COST"]),
        source=path,
        notices=tuple(notices),
    )


def resolve_api_keys(api: dict[str, Any]) -> dict[str, Secret]:
    """API_KEY and LARGE_API_KEY as Secrets: each from the config, else from the variable its
    *_ENV key names; the small role's falls back to the usual variables, the large role's to
    the small role's key (checked: a named variable that is not set is a config problem)."""
    small = resolve_api_key(api["API_KEY"] or os.environ.get(api["API_KEY_ENV"] or "-", ""))
    large = api["LARGE_API_KEY"] or os.environ.get(api["LARGE_API_KEY_ENV"] or "-", "")
    return {"API_KEY": small, "LARGE_API_KEY": Secret(large.strip())}


def resolve_api_key(from_config: str) -> Secret:
    """Config first, then AUGMENTOOLKIT_API_KEY, then OPENAI_API_KEY; empty means no key."""
    if from_config.strip():
        return Secret(from_config.strip())
    for name in KEY_ENV_VARS:
        value = os.environ.get(name, "").strip()
        if value:
            return Secret(value)
    return Secret("")


class DuplicateKey(yaml.YAMLError):
    pass


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load that refuses a key given twice in one mapping (which silently keeps the
    last one), since one of the two settings would be ignored without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise DuplicateKey(
                    f"{key} is given twice (the second time at line {line}). Keep one of them."
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(
            [f"{path} does not exist. Pass an existing file with --config, or copy config.yaml."],
            source=str(path),
        )
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)  # noqa: S506
    except UnicodeDecodeError:
        raise ConfigError(
            ["is not UTF-8 text. Save it as UTF-8 (in most editors: Save with encoding, UTF-8)."],
            source=str(path),
        ) from None
    except DuplicateKey as error:
        raise ConfigError([str(error)], source=str(path)) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            [f"is not valid YAML{where}. Fix the indentation or quoting there."], source=str(path)
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(["must be a mapping of sections (PATH, API, SYSTEM)."], str(path))
    return data


def _check_schema(raw: dict[str, Any], problems: list[str]) -> dict[str, dict[str, Any]]:
    """Fill defaults, coerce harmless forms (1 -> 1.0), and note every unknown or bad key."""
    for section in raw:
        if section not in SCHEMA:
            problems.append(
                f"{section}: unknown section. "
                + unknown_key_hint(str(section), list(SCHEMA), "section")
            )
    values: dict[str, dict[str, Any]] = {}
    for section, keys in SCHEMA.items():
        given = raw.get(section) or {}
        if not isinstance(given, dict):
            problems.append(f"{section}: must be a mapping of keys. Indent its keys under it.")
            given = {}
        for key in given:
            if key not in keys:
                problems.append(
                    f"{section}.{key}: unknown key. {unknown_key_hint(key, list(keys))}"
                )
        values[section] = {
            key: _check_value(f"{section}.{key}", given.get(key, default), kind, rule, problems)
            for key, (kind, default, rule) in keys.items()
        }
    return values


def _check_value(name: str, value: Any, kind: type, rule: Any, problems: list[str]) -> Any:
    if kind is UrlOrUrls:
        return _check_url_list(name, value, problems)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is str and value is None:
        value = ""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        shown = "something else (not shown: a key)" if name in SECRET_KEYS else repr(value)
        problems.append(
            f"{name}: must be {TYPE_NAMES[kind]}, got {shown}. "
            f"Write {_example(kind)} in the config."
        )
        return value
    if isinstance(rule, tuple) and value not in rule:
        problems.append(f"{name}: {value!r} is not one of {', '.join(rule)}. Pick one of those.")
    elif isinstance(rule, int | float) and isinstance(value, int | float) and value < rule:
        problems.append(f"{name}: {value} is below the minimum {rule}. Set it to {rule} or more.")
    elif (
        isinstance(rule, Between)
        and isinstance(value, int | float)
        and not rule.low <= value <= rule.high  # also rejects nan
    ):
        problems.append(
            f"{name}: {value} is outside {rule.low}..{rule.high}. Set it between those values."
        )
    return value


def _check_url_list(name: str, value: Any, problems: list[str]) -> Any:
    """Shape only: text, or a list of distinct texts. Whether each is a URL depends on MODE.
    Spaces around a URL (a paste) are dropped."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        value = [item.strip() if isinstance(item, str) else item for item in value]
    if not isinstance(value, list):
        problems.append(
            f"{name}: must be text or a list of texts, got {value!r}. Write one URL like "
            "http://127.0.0.1:8080/v1, or a list of them to spread requests over several servers."
        )
        return value
    if not value:
        problems.append(f"{name}: the list is empty. Give at least one URL, or write one as text.")
    seen: set[str] = set()
    for number, item in enumerate(value, start=1):
        if not isinstance(item, str):
            problems.append(
                f"{name}: item {number} must be text, got {item!r}. Write each URL like "
                "http://127.0.0.1:8080/v1."
            )
        elif item in seen:
            problems.append(
                f"{name}: {item!r} is listed twice. Remove the repeat: each entry is a separate "
                "server with its own SYSTEM.CONCURRENCY_LIMIT."
            )
        else:
            seen.add(item)
    return tuple(value)


def _example(kind: type) -> str:
    return {
        str: '"text"',
        int: "a number like 3",
        float: "a number like 30",
        bool: "True or False",
    }[kind]


def _resolve(base: Path, value: Any) -> Path:
    candidate = Path(str(value)).expanduser()
    return candidate if candidate.is_absolute() else (base / candidate).resolve()


def _check_paths(paths: dict[str, Path], given: dict[str, Any], problems: list[str]) -> None:
    for key, value in given.items():
        if isinstance(value, str) and not value.strip():
            problems.append(
                f"PATH.{key}: empty. Give a folder (e.g. {SCHEMA['PATH'][key][1]}), or leave "
                "the key out for that default."
            )
    existing = next(p for p in (paths["OUTPUT"], *paths["OUTPUT"].parents) if p.exists())
    if not existing.is_dir():
        problems.append(
            f"PATH.OUTPUT: {existing} is a file, not a folder, so {paths['OUTPUT']} cannot be "
            "made. Point PATH.OUTPUT at a folder (it is created if missing)."
        )
    if not paths["INPUT"].is_dir():
        problems.append(
            f"PATH.INPUT: folder {paths['INPUT']} does not exist. Create it and put your .txt "
            "files there, or point PATH.INPUT at the folder that holds them."
        )
    if not paths["DEFAULT_PROMPTS"].is_dir():
        problems.append(
            f"PATH.DEFAULT_PROMPTS: folder {paths['DEFAULT_PROMPTS']} does not exist. Point it "
            "at the prompts/ folder that ships with Augmentoolkit."
        )
    if not paths["PROMPTS"].is_dir():
        problems.append(
            f"PATH.PROMPTS: folder {paths['PROMPTS']} does not exist. Create it (it may be "
            "empty) or set it to the same folder as PATH.DEFAULT_PROMPTS."
        )


def _check_combinations(values: dict[str, dict[str, Any]], problems: list[str]) -> None:
    system, api = values["SYSTEM"], values["API"]
    _check_exports(system, problems)
    if system["MODE"] == "aphrodite" and system["COMPLETION_MODE"] is False:
        problems.append(
            "SYSTEM.MODE: aphrodite runs completion prompts only, but SYSTEM.COMPLETION_MODE is "
            "False. Set COMPLETION_MODE: True, or use MODE: api for chat mode."
        )
    if system["MODE"] == "aphrodite" and not values["APHRODITE"]["MODEL"]:
        problems.append(
            "APHRODITE.MODEL: empty, but MODE is aphrodite. Set it to a Hugging Face model path."
        )
    if system["MODE"] == "api":
        _check_urls(api["BASE_URL"], problems)
        _check_large_role(api, problems)
    if system["EXECUTOR"] == "ray":
        _check_ray(system["MODE"], api["BASE_URL"], problems)
    if system["MODE"] == "aphrodite" and api["GRAMMARS"] == "always":
        problems.append(
            "API.GRAMMARS: always sends llama.cpp grammars, which MODE aphrodite cannot take. "
            "Set GRAMMARS: auto (or never) with MODE: aphrodite."
        )
    for key in ("LOGICAL_MODEL", "LARGE_LOGICAL_MODEL"):
        if system["MODE"] == "api" and isinstance(api[key], str) and not api[key].strip():
            problems.append(f"API.{key}: empty. Set it to the model name your server serves.")


def _check_urls(value: Any, problems: list[str], name: str = "API.BASE_URL") -> None:
    """Every entry of API.BASE_URL is an http(s) URL; a lone "embedded" is let through."""
    if isinstance(value, str):
        if value != EMBEDDED and not _is_http_url(value):
            problems.append(
                f"{name}: {value!r} is not an http(s) URL. Write it like "
                "http://127.0.0.1:8080/v1 (llama.cpp, vLLM) or https://api.openai.com/v1."
            )
        return
    if not isinstance(value, tuple):
        return  # its shape is already reported
    for number, url in enumerate(value, start=1):
        if isinstance(url, str) and not _is_http_url(url):
            problems.append(
                f"{name}: item {number}, {url!r}, is not an http(s) URL. Write each like "
                "http://10.0.0.2:8000/v1 (one per vLLM, llama.cpp or Aphrodite server)."
            )


def _check_large_role(api: dict[str, Any], problems: list[str]) -> None:
    """LARGE_BASE_URL: empty, or servers of its own (the embedded model serves every role);
    a named key variable must be set."""
    large = api["LARGE_BASE_URL"]
    if large == EMBEDDED or (api["BASE_URL"] == EMBEDDED and large):
        problems.append(
            "API.LARGE_BASE_URL: the embedded model serves both roles from one server. Leave "
            "LARGE_BASE_URL empty, or point both BASE_URL and LARGE_BASE_URL at your servers."
        )
    elif large:
        _check_urls(large, problems, "API.LARGE_BASE_URL")
    for key in ("API_KEY_ENV", "LARGE_API_KEY_ENV"):
        name = api[key]
        if isinstance(name, str) and name and not os.environ.get(name, "").strip():
            problems.append(
                f"API.{key}: names the environment variable {name}, which is not set here. "
                f"Export {name} before the run, or fix the name."
            )


def _is_http_url(value: str) -> bool:
    try:
        parsed = urlparse(value)
        parsed.port  # noqa: B018  (raises ValueError for a port like :80a)
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def _check_ray(mode: str, base_url: Any, problems: list[str]) -> None:
    """Ray workers are other processes, often on other machines: they reach the model over
    HTTP, so a model that lives inside this process cannot serve them."""
    if mode == "aphrodite":
        problems.append(
            "SYSTEM.EXECUTOR: ray needs model servers reachable over HTTP, but MODE aphrodite "
            "runs the model inside this process. Serve it (e.g. aphrodite or vllm's OpenAI "
            "server) and use MODE: api with its URL, or set EXECUTOR: local."
        )
    elif base_url == EMBEDDED:
        problems.append(
            "SYSTEM.EXECUTOR: ray needs model servers reachable over HTTP, but API.BASE_URL is "
            "embedded (a model inside this process). Point BASE_URL at your servers, or set "
            "EXECUTOR: local."
        )


def _check_exports(system: dict[str, Any], problems: list[str]) -> None:
    threshold, repo = system["DEDUP_THRESHOLD"], system["PUSH_TO_HUB"]
    if isinstance(threshold, float) and 0 < threshold < 0.5:
        problems.append(
            f"SYSTEM.DEDUP_THRESHOLD: {threshold} would count unrelated texts as duplicates "
            "(and compare nearly every pair). Use 0 (off) or 0.5 to 0.99; 0.8 is the default."
        )
    if not isinstance(repo, str) or not repo.strip():
        return
    if not HUB_REPO.fullmatch(repo.strip()):
        problems.append(
            f"SYSTEM.PUSH_TO_HUB: {repo!r} is not a Hub dataset id. Write it as owner/name, "
            "e.g. my-user/sabotage-conversations, or leave it empty for no push."
        )
    if not any(os.environ.get(name, "").strip() for name in HUB_TOKEN_VARS):
        problems.append(
            "SYSTEM.PUSH_TO_HUB: set, but HF_TOKEN is not. Export HF_TOKEN (a Hugging Face "
            "token with write access) before the run, or leave PUSH_TO_HUB empty."
        )
