"""The Hugging Face `datasets` folder (SYSTEM.HF_DATASET) and its push to the Hub
(SYSTEM.PUSH_TO_HUB with HF_TOKEN set).

OUTPUT/hf_dataset/ is a DatasetDict written by `save_to_disk`: split `train` and, with
SYSTEM.EVAL_SHARE above 0, `eval` (the leak-free split of split.py; a split with no rows is
left out), each row `{"messages": [{"role", "content"}, ...]}` as in openai_messages.jsonl:
TRL's conversational format, and axolotl's `chat_template` type as it reads by default. Its
README.md is the dataset card (dataset_card.py). `datasets.load_from_disk` reads it back.

The folder is built from the JSONL files in a temp folder beside it and then swapped in, so a
crash never leaves half of one; `datasets` converts the JSONL to Arrow in blocks, so memory
stays flat. A digest of its sources and card is kept in the folder: a rerun on the same data
neither rebuilds it nor imports `datasets`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from augmentoolkit.config import HUB_TOKEN_VARS, Config
from augmentoolkit.control_flow_functions.dataset_card import card_text, gather

HF_FOLDER = "hf_dataset"
DIGEST_FILE = ".sources.sha256"
MESSAGES_FILE = "openai_messages.jsonl"


def export_for_hub(
    config: Config, stages: list[str], sides: Mapping[str, int], removed: Mapping[str, int]
) -> list[str]:
    """Write OUTPUT/hf_dataset with its card, and push it when SYSTEM.PUSH_TO_HUB asks; the
    lines to tell the user."""
    output = config.PATH.OUTPUT
    sources = split_sources(output, sides)
    splits = row_counts(sources)
    card = card_text(gather(config, output, stages, splits, removed))
    folder = write_hf_dataset(output, sources, card)
    if folder is None:
        return ["hf_dataset: no conversations, so no Hugging Face folder was written"]
    shown = ", ".join(f"{name} {count}" for name, count in splits.items())
    said = [f"Hugging Face dataset ({shown}) with its card in {folder}"]
    push = hub_push(config.SYSTEM.PUSH_TO_HUB)
    if push is None:
        return said
    try:
        push_to_hub(folder, push)
    except Exception as error:  # the datasets are written; only the upload failed
        return [*said, f"warning: the push to the Hub failed ({error}); run again to retry it"]
    return [*said, f"pushed to https://huggingface.co/datasets/{push.repo} (private)"]


def split_sources(output: Path, sides: Mapping[str, int]) -> dict[str, Path]:
    """Split name -> its messages file; only splits that hold rows. Without a split, the whole
    file is `train`."""
    if not sides:
        return {"train": output / MESSAGES_FILE}
    return {side: output / "split" / side / MESSAGES_FILE for side in sides if sides[side]}


def row_counts(sources: Mapping[str, Path]) -> dict[str, int]:
    counts = {}
    for name, path in sources.items():
        with open(path, "rb") as handle:
            counts[name] = sum(1 for _ in handle)
    return {name: count for name, count in counts.items() if count}


def write_hf_dataset(output: Path, sources: Mapping[str, Path], card: str) -> Path | None:
    """Write OUTPUT/hf_dataset from the non-empty `sources`, with `card` as its README.md; None
    (and no folder) when no split has a row."""
    folder = output / HF_FOLDER
    for stale in output.glob(f".{HF_FOLDER}.*.tmp"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    sources = {name: path for name, path in sources.items() if path.stat().st_size}
    if not sources:
        shutil.rmtree(folder, ignore_errors=True)
        return None
    digest = _digest(sources, card)
    marker = folder / DIGEST_FILE
    if marker.exists() and marker.read_text() == digest and (folder / "dataset_dict.json").exists():
        return folder
    work = Path(tempfile.mkdtemp(prefix=f".{HF_FOLDER}.", suffix=".tmp", dir=output))
    try:
        built = work / HF_FOLDER
        with _quiet_datasets():
            _load(sources, work / "cache").save_to_disk(str(built))
        (built / "README.md").write_text(card, encoding="utf-8")
        (built / DIGEST_FILE).write_text(digest, encoding="utf-8")
        if folder.exists():
            folder.rename(work / "old")
        built.rename(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


def _load(sources: Mapping[str, Path], cache: Path) -> Any:
    from datasets import Dataset, DatasetDict, Features, Value

    features = Features({"messages": [{"role": Value("string"), "content": Value("string")}]})
    return DatasetDict(
        {
            name: Dataset.from_json(str(path), features=features, cache_dir=str(cache))
            for name, path in sources.items()
        }
    )


def _digest(sources: Mapping[str, Path], card: str) -> str:
    digest = hashlib.sha256(f"datasets {version('datasets')}\n{card}".encode())
    for name, path in sources.items():
        digest.update(f"\n{name}\n".encode())
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


@contextmanager
def _quiet_datasets() -> Iterator[None]:
    """No progress bars or info lines from `datasets` while it works (restored after)."""
    from datasets.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    level = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


@dataclass(frozen=True)
class HubPush:
    repo: str
    token: str


def hub_push(repo: str, environ: Mapping[str, str] = os.environ) -> HubPush | None:
    """What to push where: None when SYSTEM.PUSH_TO_HUB is empty. ValueError (with the fix)
    when it is set without a token in HF_TOKEN (or HUGGING_FACE_HUB_TOKEN)."""
    if not repo.strip():
        return None
    token = next((environ[name] for name in HUB_TOKEN_VARS if environ.get(name, "").strip()), "")
    if not token:
        raise ValueError(
            f"SYSTEM.PUSH_TO_HUB is {repo!r} but HF_TOKEN is not set. Export HF_TOKEN (a "
            "Hugging Face token with write access), or leave PUSH_TO_HUB empty."
        )
    return HubPush(repo.strip(), token.strip())


def push_to_hub(folder: Path, push: HubPush) -> None:
    """Upload the folder's splits (as Parquet, a private dataset repo) and its card.
    Not run by the tests: it needs the Hub."""
    from datasets import load_from_disk
    from huggingface_hub import HfApi

    with _quiet_datasets():
        load_from_disk(str(folder)).push_to_hub(push.repo, token=push.token, private=True)
    HfApi(token=push.token).upload_file(
        path_or_fileobj=str(folder / "README.md"),
        path_in_repo="README.md",
        repo_id=push.repo,
        repo_type="dataset",
    )
