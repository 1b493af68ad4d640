"""The store appends whole records, survives a torn last line, and keys calls by content."""

from __future__ import annotations

import json
from pathlib import Path

from augmentoolkit.generation_functions.store import StepStore, call_key


def test_key_changes_with_each_part() -> None:
    base = call_key("judge", "prompt", "model", "t=0.2", "")
    assert len(base) == 64
    assert base == call_key("judge", "prompt", "model", "t=0.2", "")
    variants = [
        call_key("judge2", "prompt", "model", "t=0.2", ""),
        call_key("judge", "prompt!", "model", "t=0.2", ""),
        call_key("judge", "prompt", "model2", "t=0.2", ""),
        call_key("judge", "prompt", "model", "t=0.3", ""),
        call_key("judge", "prompt", "model", "t=0.2", "vote1"),
    ]
    assert len(set(variants + [base])) == 6


def test_records_survive_reopen(tmp_path: Path) -> None:
    store = StepStore(tmp_path / "step.jsonl")
    store.put({"key": "a", "ok": True, "completions": ["x"]})
    store.put({"key": "b", "ok": False, "completions": ["y"]})
    store.close()
    again = StepStore(tmp_path / "step.jsonl")
    assert set(again.records) == {"a", "b"}
    assert again.get("b") == {"key": "b", "ok": False, "completions": ["y"]}
    again.close()


def test_torn_last_line_is_cut_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "step.jsonl"
    whole = json.dumps({"key": "a", "ok": True}) + "\n"
    path.write_text(whole + '{"key": "b", "ok": tr', encoding="utf-8")
    store = StepStore(path)
    assert set(store.records) == {"a"}
    store.put({"key": "c", "ok": True})
    store.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "c"]
