"""Every config problem is reported before any model call, each with its fix, all at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from augmentoolkit.config import Secret, load_config
from augmentoolkit.errors import ConfigError
from tests.conftest import REPO, ConfigFactory, write_config


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


def test_shipped_config_is_valid() -> None:
    config = load_config(REPO / "config.yaml")
    assert config.SYSTEM.MODE == "api"
    assert config.PATH.INPUT == (REPO / "raw_txt_input").resolve()
    assert config.SYSTEM.CHUNK_SIZE == 400
    # the shipped config is a short trial on the embedded model, with grammars on
    assert config.SYSTEM.USE_SUBSET is True and config.SYSTEM.SUBSET_SIZE == 8
    assert config.SYSTEM.DOUBLE_CHECK_COUNTER == 1 and config.SYSTEM.QA_REGENERATIONS == 3
    assert config.API.BASE_URL == "embedded" and config.API.GRAMMARS == "auto"


def test_defaults_fill_missing_keys(make_config: ConfigFactory) -> None:
    config = make_config()
    assert config.SYSTEM.DOUBLE_CHECK_COUNTER == 3
    assert config.SYSTEM.STOP is True
    assert config.API.REQUEST_TIMEOUT == 300.0
    assert config.SYSTEM.USE_SUBSET is False and config.SYSTEM.SUBSET_SIZE == 13


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("SYSTEM", "CONCURENCY_LIMIT", 5, "SYSTEM.CONCURENCY_LIMIT: unknown key"),
        ("SYSTEM", "DOUBLE_CHECK_COUNTER", "three", "SYSTEM.DOUBLE_CHECK_COUNTER: must be a whole"),
        ("SYSTEM", "USE_SUBSET", "yes please", "SYSTEM.USE_SUBSET: must be true or false"),
        ("SYSTEM", "CONCURRENCY_LIMIT", 0, "SYSTEM.CONCURRENCY_LIMIT: 0 is outside 1..4096"),
        ("SYSTEM", "CONCURRENCY_LIMIT", 100000, "CONCURRENCY_LIMIT: 100000 is outside 1..4096"),
        ("API", "MAX_RETRIES", 1000000000, "API.MAX_RETRIES: 1000000000 is outside 0..100"),
        ("API", "REQUEST_TIMEOUT", float("inf"), "API.REQUEST_TIMEOUT: inf is outside 0.1..86400"),
        ("API", "REQUEST_TIMEOUT", float("nan"), "API.REQUEST_TIMEOUT: nan is outside 0.1..86400"),
        ("PATH", "OUTPUT", "", "PATH.OUTPUT: empty. Give a folder"),
        ("SYSTEM", "CHUNK_SIZE", 10, "SYSTEM.CHUNK_SIZE: 10 is below the minimum 50"),
        ("SYSTEM", "MIN_ANSWER_GROUNDING", 1.5, "MIN_ANSWER_GROUNDING: 1.5 is outside 0.0..1.0"),
        ("SYSTEM", "MIN_ANSWER_GROUNDING", -0.1, "MIN_ANSWER_GROUNDING: -0.1 is outside 0.0..1.0"),
        ("SYSTEM", "MODE", "ollama", "SYSTEM.MODE: 'ollama' is not one of api, aphrodite"),
        ("SYSTEM", "REARRANGEMENTS_TO_TAKE", True, "must be a whole number"),
        ("API", "REQUEST_TIMEOUT", "soon", "API.REQUEST_TIMEOUT: must be a number"),
        ("API", "BASE_URL", "localhost:8080", "API.BASE_URL: 'localhost:8080' is not an http(s)"),
        ("API", "LOGICAL_MODEL", "", "API.LOGICAL_MODEL: empty"),
        ("PATH", "INPUT", "/no/such/folder", "PATH.INPUT: folder /no/such/folder does not exist"),
        ("PATH", "PROMPTS", "/no/prompts", "PATH.PROMPTS: folder /no/prompts does not exist"),
    ],
)
def test_each_bad_value_is_named_with_a_fix(
    make_config: ConfigFactory, section: str, key: str, value: object, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(**{section: {key: value}})
    assert len(caught.value.problems) == 1
    problem = caught.value.problems[0]
    assert expected in problem
    assert ". " in problem  # a problem and then its fix


def test_aphrodite_needs_completion_mode(make_config: ConfigFactory) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(
            SYSTEM={"MODE": "aphrodite", "COMPLETION_MODE": False}, APHRODITE={"MODEL": "org/model"}
        )
    assert caught.value.problems == [
        "SYSTEM.MODE: aphrodite runs completion prompts only, but SYSTEM.COMPLETION_MODE is "
        "False. Set COMPLETION_MODE: True, or use MODE: api for chat mode."
    ]


def test_unknown_section_and_many_problems_listed_together(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {
            "PATHS": {"INPUT": "x"},
            "SYSTEM": {"MODE": "gpu", "DOUBLE_CHECK_COUNTER": -1, "GRAPH": "no"},
            "PATH": {"INPUT": str(tmp_path / "missing")},
        },
    )
    problems = problems_of(path)
    named = [p.split(":")[0] for p in problems]
    assert named == [
        "PATHS",
        "SYSTEM.DOUBLE_CHECK_COUNTER",
        "SYSTEM.MODE",
        "SYSTEM.GRAPH",
        "PATH.INPUT",
        "PATH.DEFAULT_PROMPTS",  # ./prompts beside this config does not exist either
        "PATH.PROMPTS",
    ]
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "has 7 problems" in str(caught.value)


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("SYSTEM:\n  MODE: api\n    STOP: [\n", encoding="utf-8")
    assert "is not valid YAML at line" in problems_of(bad)[0]
    assert "does not exist" in problems_of(tmp_path / "nope.yaml")[0]


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "texts").mkdir()
    (tmp_path / "prompts").mkdir()
    path = write_config(
        tmp_path,
        {
            "PATH": {
                "INPUT": "texts",
                "OUTPUT": "out",
                "PROMPTS": "prompts",
                "DEFAULT_PROMPTS": str(REPO / "prompts"),
            }
        },
    )
    config = load_config(path)
    assert config.PATH.INPUT == tmp_path / "texts"
    assert config.PATH.OUTPUT == tmp_path / "out"


def test_api_key_order_config_then_env(
    make_config: ConfigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not make_config().API.API_KEY
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    assert make_config().API.API_KEY.reveal() == "sk-openai"
    monkeypatch.setenv("AUGMENTOOLKIT_API_KEY", "sk-augment")
    assert make_config().API.API_KEY.reveal() == "sk-augment"
    assert make_config(API={"API_KEY": "sk-config"}).API.API_KEY.reveal() == "sk-config"


def test_secret_never_prints_itself() -> None:
    secret = Secret("sk-very-secret")
    assert "sk-very-secret" not in f"{secret} {secret!r} {[secret]}"


def test_cli_reports_all_problems_exit_2_no_traceback(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"SYSTEM": {"MODE": "nope", "STOP": 3, "EXTRA": 1}})
    done = subprocess.run(
        [sys.executable, str(REPO / "processing.py"), "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "SYSTEM.MODE" in done.stderr and "SYSTEM.STOP" in done.stderr
    assert "SYSTEM.EXTRA: unknown key" in done.stderr
    assert "PATH.INPUT" in done.stderr  # ./raw_txt_input does not exist beside this config


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("SYSTEM:\n  SEED: 1\n  USE_SUBSET: True\n  SEED: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="SEED is given twice .*line 4"):
        load_config(path)


def test_a_config_not_saved_as_utf8_gets_one_line(tmp_path: Path) -> None:
    for encoding in ("utf-16", "latin-1"):
        path = tmp_path / f"{encoding}.yaml"
        path.write_text("API:\n  LOGICAL_MODEL: café\n", encoding=encoding)
        with pytest.raises(ConfigError, match="is not UTF-8 text. Save it as UTF-8"):
            load_config(path)


def test_an_output_that_is_a_file_is_refused(make_config: ConfigFactory, tmp_path: Path) -> None:
    taken = tmp_path / "a_file"
    taken.write_text("not a folder", encoding="utf-8")
    with pytest.raises(ConfigError, match="PATH.OUTPUT: .*a_file is a file, not a folder"):
        make_config(PATH={"OUTPUT": str(taken)})
    with pytest.raises(ConfigError, match="a_file is a file, not a folder, so .*inside"):
        make_config(PATH={"OUTPUT": str(taken / "inside")})


def test_spaces_around_a_base_url_are_dropped(make_config: ConfigFactory) -> None:
    config = make_config(API={"BASE_URL": "  http://127.0.0.1:8080/v1 "})
    assert config.API.base_urls == ("http://127.0.0.1:8080/v1",)
    listed = make_config(API={"BASE_URL": [" http://127.0.0.1:8080/v1", "http://127.0.0.1:9/v1 "]})
    assert listed.API.base_urls == ("http://127.0.0.1:8080/v1", "http://127.0.0.1:9/v1")


def test_file_system_failures_become_one_line_with_a_fix(
    make_config: ConfigFactory, tmp_path: Path
) -> None:
    import errno

    from augmentoolkit.errors import explain_os_error

    full = explain_os_error(OSError(errno.ENOSPC, "No space left on device", "/data/out/x"))
    assert "disk holding /data/out/x is full" in str(full) and full.exit_status == 1
    files = explain_os_error(OSError(errno.EMFILE, "Too many open files"))
    assert "SYSTEM.CONCURRENCY_LIMIT" in str(files) and files.exit_status == 2
    denied = explain_os_error(PermissionError(errno.EACCES, "Permission denied", "/ro/out"))
    assert "cannot write /ro/out" in str(denied) and denied.exit_status == 2

    # a folder no one can create (root may write anywhere else): one line, no traceback
    config = make_config(PATH={"OUTPUT": "/proc/self/augmentoolkit-output"})
    run = subprocess.run(
        [sys.executable, str(REPO / "processing.py"), "--config", str(config.source)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert run.returncode in (1, 2) and "Traceback" not in run.stderr
    assert run.stderr.startswith("error: ") and "augmentoolkit-output" in run.stderr
