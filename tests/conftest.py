"""Shared fixtures: a scrubbed environment, a config factory writing real YAML files into a tmp
folder, and one scripted OpenAI-compatible server on 127.0.0.1 for the whole test session."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from augmentoolkit.config import Config, load_config
from tests.llm_server import ScriptedLLMServer

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "raw_txt_input"
SECRET_ENV = (
    "OPENAI_API_KEY",
    "AUGMENTOOLKIT_API_KEY",
    "HF_TOKEN",  # SYSTEM.PUSH_TO_HUB's token: no test may push
    "HUGGING_FACE_HUB_TOKEN",
    "OPENAI_BASE_URL",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real keys or proxies from the developer's shell reach a test."""
    for name in SECRET_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def llm_server() -> Iterator[ScriptedLLMServer]:
    server = ScriptedLLMServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(llm_server: ScriptedLLMServer) -> ScriptedLLMServer:
    """The session server, reset to a clean script for this test."""
    llm_server.reset()
    return llm_server


def write_config(folder: Path, sections: dict[str, dict[str, Any]]) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(sections, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def input_dir(tmp_path: Path) -> Path:
    """A tmp input folder holding one small text."""
    folder = tmp_path / "input"
    folder.mkdir()
    (folder / "notes.txt").write_text(
        "Bees keep the hive warm by shivering their flight muscles. "
        "A colony can hold twenty thousand workers in summer.",
        encoding="utf-8",
    )
    return folder


ConfigFactory = Callable[..., Config]


@pytest.fixture
def make_config(tmp_path: Path, input_dir: Path) -> ConfigFactory:
    """Write a config.yaml into tmp_path with the given overrides and load it for real.

    Keyword arguments are SECTION={KEY: value} mappings merged over test defaults.
    """

    def factory(**sections: dict[str, Any]) -> Config:
        data: dict[str, dict[str, Any]] = {
            "PATH": {
                "INPUT": str(input_dir),
                "OUTPUT": str(tmp_path / "output"),
                "DEFAULT_PROMPTS": str(REPO / "prompts"),
                "PROMPTS": str(REPO / "prompts"),
            },
            "API": {
                "BASE_URL": "http://127.0.0.1:9/v1",
                "LOGICAL_MODEL": "small-model",
                "LARGE_LOGICAL_MODEL": "large-model",
            },
            "SYSTEM": {"CONCURRENCY_LIMIT": 8},
        }
        for section, values in sections.items():
            data.setdefault(section, {}).update(values)
        return load_config(write_config(tmp_path, data))

    return factory


@pytest.fixture
def sample_input(tmp_path: Path) -> Path:
    """A tmp copy of the shipped sample text."""
    folder = tmp_path / "sample_input"
    shutil.copytree(SAMPLE_DIR, folder)
    return folder
