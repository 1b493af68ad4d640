"""The exports trainers take: every file loads in Hugging Face `datasets` and follows its format's
documented schema (TRL's conversational and language-modeling formats, axolotl's `chat_template`,
`alpaca` and `completion` types); the `save_to_disk` folder with its train/eval splits and card;
the push decision. TRL's own data utilities are used when they can be imported (they need
`transformers`, not torch); axolotl needs torch and cannot be installed here, so its dataset
types are checked against their documented fields."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from augmentoolkit.config import load_config
from augmentoolkit.control_flow_functions import hf_dataset
from augmentoolkit.control_flow_functions.dataset_rows import chatml_text
from augmentoolkit.control_flow_functions.hf_dataset import (
    HF_FOLDER,
    HubPush,
    export_for_hub,
    hub_push,
)
from augmentoolkit.errors import ConfigError
from augmentoolkit.pipeline import run_pipeline
from tests.conftest import REPO, ConfigFactory, write_config
from tests.fake_model import reply
from tests.llm_server import ScriptedLLMServer
from tests.test_pipeline import sample_config

SIDES = ("train", "eval")
# axolotl 0.19 (axolotl/prompt_strategies/chat_template.py, utils/schemas/datasets.py): type
# chat_template reads `messages` by default, each message's `role` and `content`, and maps the
# roles user <- human, user; assistant <- gpt, assistant; system <- system.
AXOLOTL_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}
AXOLOTL_ROLES["system"] = "system"
# Its `chat_template: chatml` (axolotl/utils/chat_templates/templates/chatml.jinja), verbatim:
AXOLOTL_CHATML = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}"
    "{% endif %}{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# ... type alpaca reads `instruction`, `input` (may be empty) and `output`; type completion `text`.
ALPACA_FIELDS = {"instruction", "input", "output"}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory, llm_server: ScriptedLLMServer) -> Path:
    """One run on the sample with a 30% eval split (module-scoped: the tests only read it)."""
    folder = tmp_path_factory.mktemp("exports")
    llm_server.reset()
    llm_server.set_responder(reply)
    paths = {"INPUT": str(REPO / "raw_txt_input"), "OUTPUT": str(folder / "output")}
    data = {
        "PATH": {
            **paths,
            "DEFAULT_PROMPTS": str(REPO / "prompts"),
            "PROMPTS": str(REPO / "prompts"),
        },
        "API": {
            "BASE_URL": llm_server.base_url,
            "LOGICAL_MODEL": "small-model",
            "LARGE_LOGICAL_MODEL": "large-model",
        },
        "SYSTEM": {"USE_SUBSET": True, "SUBSET_SIZE": 4, "EVAL_SHARE": 0.3},
    }
    asyncio.run(run_pipeline(load_config(write_config(folder, data))))
    return folder / "output"


def load_json(path: Path, cache: Path) -> list[dict[str, Any]]:
    from datasets import load_dataset

    rows = load_dataset("json", data_files=str(path), split="train", cache_dir=str(cache))
    return [dict(row) for row in rows]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def folders(output: Path) -> list[Path]:
    return [output, *(output / "split" / side for side in SIDES)]


def check_conversational(messages: list[dict[str, str]]) -> None:
    """TRL's conversational format (and axolotl's chat_template defaults): a system message,
    then user and assistant turns alternating, ending with the assistant."""
    assert all(set(m) == {"role", "content"} and m["content"].strip() for m in messages)
    roles = [AXOLOTL_ROLES[m["role"]] for m in messages]
    assert roles[0] == "system" and len(roles) >= 3
    assert roles[1:] == ["user", "assistant"] * (len(roles[1:]) // 2)


def test_every_export_loads_in_datasets_with_its_schema(finished_run: Path, tmp_path: Path) -> None:
    for folder in folders(finished_run):
        messages = load_json(folder / "openai_messages.jsonl", tmp_path)
        chatml = load_json(folder / "chatml.jsonl", tmp_path)
        sharegpt = load_json(folder / "simplified_data.jsonl", tmp_path)
        assert len(messages) == len(chatml) == len(sharegpt) > 0
        for row, text, share in zip(messages, chatml, sharegpt, strict=True):
            check_conversational(row["messages"])
            assert set(text) == {"text"} and text["text"] == chatml_text(row["messages"])
            assert text["text"].startswith("<|im_start|>system\n")
            # ShareGPT through axolotl's chat_template with field_messages: conversations and
            # message_property_mappings role: from, content: value
            renamed = [{"role": t["from"], "content": t["value"]} for t in share["conversations"]]
            check_conversational(renamed)
        pairs = load_json(folder / "qa_pairs.jsonl", tmp_path)
        alpaca = load_json(folder / "alpaca.jsonl", tmp_path)
        assert len(pairs) == len(alpaca) > 0
        for pair, row in zip(pairs, alpaca, strict=True):
            assert set(row) == ALPACA_FIELDS and row["input"] == ""
            assert (row["instruction"], row["output"]) == (pair["question"], pair["answer"])


def test_split_files_cover_every_format(finished_run: Path) -> None:
    for name in ("chatml.jsonl", "alpaca.jsonl", "openai_messages.jsonl", "qa_pairs.jsonl"):
        whole = sorted((finished_run / name).read_text(encoding="utf-8").splitlines())
        parts = [
            (finished_run / "split" / side / name).read_text(encoding="utf-8").splitlines()
            for side in SIDES
        ]
        assert all(parts) and sorted(parts[0] + parts[1]) == whole


def test_hf_folder_holds_the_splits_and_a_card(finished_run: Path) -> None:
    from datasets import DatasetDict, load_from_disk

    dataset = load_from_disk(str(finished_run / HF_FOLDER))
    assert isinstance(dataset, DatasetDict) and list(dataset) == list(SIDES)
    for side in SIDES:
        rows = read_jsonl(finished_run / "split" / side / "openai_messages.jsonl")
        assert [dict(row) for row in dataset[side]] == rows
    card = (finished_run / HF_FOLDER / "README.md").read_text(encoding="utf-8")
    counts = {side: len(dataset[side]) for side in SIDES}
    assert card.startswith("---\nlicense: other")
    for expected in (
        "Simple Sabotage, by the Office of Strategic Services, published 1944.txt",
        "questions, checks, repairs and plans: small-model",
        "conversations: large-model",
        f"conversations per split: train: {counts['train']}, eval: {counts['eval']}",
        f"QA pairs: {len(read_jsonl(finished_run / 'qa_pairs.jsonl'))}",
        "near-duplicates removed: 0 conversations, 0 QA pairs",
        "## Licence",
        "## How it was made",
        "judge chunks, generate questions, validate pairs",
        "`EVAL_SHARE`: 0.3",
    ):
        assert expected in card, expected


def test_trl_reads_the_files_as_its_trainer_does(finished_run: Path) -> None:
    """TRL's own data utilities (what SFTTrainer calls on a dataset): every row is
    conversational, and rendering it with axolotl's ChatML chat template gives our chatml.jsonl
    text.
    Needs `trl` and `transformers` importable (pip install --no-deps trl transformers
    tokenizers safetensors regex jinja2 markupsafe; no torch needed)."""
    pytest.importorskip("transformers")
    data_utils = pytest.importorskip("trl.data_utils")
    from datasets import load_from_disk
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    )
    tokenizer.chat_template = AXOLOTL_CHATML
    dataset = load_from_disk(str(finished_run / HF_FOLDER))
    for side in SIDES:
        texts = read_jsonl(finished_run / "split" / side / "chatml.jsonl")
        for row, text in zip(dataset[side], texts, strict=True):
            assert data_utils.is_conversational(row)
            assert data_utils.apply_chat_template(row, tokenizer)["text"] == text["text"]


def test_a_rerun_keeps_the_folder_and_no_split_gives_train_only(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path
) -> None:
    server.set_responder(reply)
    config = sample_config(make_config, server, sample_input, SUBSET_SIZE=3, EVAL_SHARE=0.0)
    asyncio.run(run_pipeline(config))
    arrow = config.PATH.OUTPUT / HF_FOLDER / "train" / "data-00000-of-00001.arrow"
    before = arrow.stat().st_ino
    asyncio.run(run_pipeline(config))
    assert arrow.stat().st_ino == before  # same data: not rebuilt
    from datasets import load_from_disk

    dataset = load_from_disk(str(config.PATH.OUTPUT / HF_FOLDER))
    assert list(dataset) == ["train"]
    assert len(dataset["train"]) == len(read_jsonl(config.PATH.OUTPUT / "openai_messages.jsonl"))
    off = sample_config(make_config, server, sample_input, SUBSET_SIZE=3, HF_DATASET=False)
    asyncio.run(run_pipeline(off))
    assert (off.PATH.OUTPUT / "chatml.jsonl").exists()


def test_push_only_when_asked_and_a_token_is_set() -> None:
    assert hub_push("", {"HF_TOKEN": "hf_x"}) is None
    assert hub_push("me/data", {"HF_TOKEN": "hf_x"}) == HubPush("me/data", "hf_x")
    assert hub_push("me/data", {"HUGGING_FACE_HUB_TOKEN": "hf_y"}) == HubPush("me/data", "hf_y")
    with pytest.raises(ValueError, match="HF_TOKEN is not set"):
        hub_push("me/data", {"HF_TOKEN": " "})


def test_config_refuses_a_push_without_token_or_a_bad_id(
    make_config: ConfigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="PUSH_TO_HUB: set, but HF_TOKEN is not"):
        make_config(SYSTEM={"PUSH_TO_HUB": "me/data"})
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    assert make_config(SYSTEM={"PUSH_TO_HUB": "me/data"}).SYSTEM.PUSH_TO_HUB == "me/data"
    with pytest.raises(ConfigError, match="is not a Hub dataset id"):
        make_config(SYSTEM={"PUSH_TO_HUB": "just-a-name"})
    with pytest.raises(ConfigError, match="DEDUP_THRESHOLD: 0.3 would count"):
        make_config(SYSTEM={"DEDUP_THRESHOLD": 0.3})


def test_export_pushes_the_folder_when_asked(
    finished_run: Path, monkeypatch: pytest.MonkeyPatch, make_config: ConfigFactory, tmp_path: Path
) -> None:
    """The upload itself needs the Hub (no network here): only what is pushed is checked."""
    output = tmp_path / "output"
    shutil.copytree(finished_run, output)
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    pushed: list[tuple[Path, HubPush]] = []
    monkeypatch.setattr(hf_dataset, "push_to_hub", lambda f, p: pushed.append((f, p)))
    config = make_config(PATH={"OUTPUT": str(output)}, SYSTEM={"PUSH_TO_HUB": "me/data"})
    lines = export_for_hub(config, ["a stage"], {"train": 1, "eval": 1}, {})
    assert pushed == [(output / HF_FOLDER, HubPush("me/data", "hf_secret"))]
    assert lines[-1] == "pushed to https://huggingface.co/datasets/me/data (private)"

    def refuse(folder: Path, push: HubPush) -> None:
        raise OSError("no network")

    monkeypatch.setattr(hf_dataset, "push_to_hub", refuse)
    lines = export_for_hub(config, ["a stage"], {"train": 1, "eval": 1}, {})
    assert "the push to the Hub failed (no network)" in lines[-1]
    assert all("hf_secret" not in line for line in lines)


def test_defaults(make_config: ConfigFactory) -> None:
    system = make_config().SYSTEM
    assert (system.DEDUP_THRESHOLD, system.HF_DATASET, system.PUSH_TO_HUB) == (0.8, True, "")
