"""A store written by the last JSONL release (tests/data/release_store, see its README.txt) is
migrated on open and answers every call of the same run: zero requests, datasets written."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from augmentoolkit.generation_functions.store import FILE_NAME, Store
from augmentoolkit.pipeline import run_pipeline
from tests.conftest import ConfigFactory
from tests.fake_model import reply
from tests.llm_server import ScriptedLLMServer

RELEASE_STORE = Path(__file__).parent / "data" / "release_store"
DATASETS = ("master_list.jsonl", "processed_masterlist.json", "simplified_data.jsonl")


def test_release_store_is_migrated_and_every_call_hits_it(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path
) -> None:
    server.set_responder(reply)  # a cache miss is answered, so the count below names the step
    config = make_config(
        PATH={"INPUT": str(sample_input)},
        API={"BASE_URL": server.base_url, "MAX_RETRIES": 6},
        SYSTEM={
            "USE_SUBSET": True,
            "SUBSET_SIZE": 2,
            "DOUBLE_CHECK_COUNTER": 3,
            "ASSISTANT_MODE": True,
            "STREAMING": True,
        },
    )
    store_folder = config.PATH.OUTPUT / "store"
    store_folder.mkdir(parents=True)
    old_files = sorted(RELEASE_STORE.glob("*.jsonl"))
    records = sum(len(path.read_bytes().splitlines()) for path in old_files)
    for path in old_files:
        shutil.copy(path, store_folder / path.name)

    asyncio.run(run_pipeline(config))

    assert server.count() == 0, sorted({str(r.step) for r in server.requests})
    for name in DATASETS:
        assert (config.PATH.OUTPUT / name).read_text(encoding="utf-8").strip(), name
    assert sorted(p.name for p in store_folder.glob("*.jsonl")) == []
    assert (store_folder / FILE_NAME).is_file()
    with Store(store_folder) as store:
        assert store.count() == records
        assert store.step_names() == sorted(path.stem for path in old_files)
