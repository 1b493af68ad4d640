"""The SQLite store: records survive reopen and SIGKILL, a later put replaces, steps iterate in
order, old JSONL step files migrate once (torn line and junk skipped), keys hash content."""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from augmentoolkit.generation_functions.store import FILE_NAME, Store, call_key

REPO = Path(__file__).resolve().parents[1]


def record(key: str, step: str = "judge", ok: bool = True, text: str = "x") -> dict[str, Any]:
    return {
        "key": key,
        "step": step,
        "ok": ok,
        "model": "small-model",
        "prompt": [
            {"role": "system", "content": 'Judge the text. Ünïcode, "quotes", and\nlines.'},
            {"role": "user", "content": f"Text: {text}"},
        ],
        "completions": [f"Verdict: {text}"],
        "finish_reasons": ["stop"],
        "errors": [],
    }


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8")


def test_key_changes_with_each_part() -> None:
    base = call_key("judge", "prompt", "model", "t=0.2", "")
    assert len(base) == 64
    assert base == call_key("judge", "prompt", "model", "t=0.2", "")
    # pinned: a changed hash would make every existing store miss and pay for its calls again
    assert base == "c679f64bd5fa61171659b20f02ff1eb64a07430945bc3ca8e98e3c7828ea29db"
    variants = [
        call_key("judge2", "prompt", "model", "t=0.2", ""),
        call_key("judge", "prompt!", "model", "t=0.2", ""),
        call_key("judge", "prompt", "model2", "t=0.2", ""),
        call_key("judge", "prompt", "model", "t=0.3", ""),
        call_key("judge", "prompt", "model", "t=0.2", "vote1"),
    ]
    assert len(set(variants + [base])) == 6


def test_records_survive_reopen_and_read_back_equal(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.step("judge").put(record("a"))
        store.step("judge").put(record("b", ok=False, text="y" * 5000))
        store.step("plan").put({"key": "c", "prompt": "a completion-mode prompt"})
        old_style = {"key": "d", "ok": True, "prompt": "p", "completions": ["c"], "errors": []}
        store.step("plan").put(old_style)  # records of older releases lack finish_reasons
    with Store(tmp_path) as again:
        assert again.step("judge").get("a") == record("a")
        assert again.step("judge").get("b") == record("b", ok=False, text="y" * 5000)
        assert again.step("plan").get("c") == {"key": "c", "prompt": "a completion-mode prompt"}
        assert again.step("plan").get("d") == old_style
        assert again.step("judge").get("missing") is None
        assert again.step("judge").get("c") is None  # keys belong to their step
        assert again.count() == 4
        assert again.step_names() == ["judge", "plan"]


def test_a_later_put_replaces_and_iteration_keeps_put_order(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        judge = store.step("judge")
        for key in ["k3", "k1", "k2", "k4"]:
            judge.put(record(key))
        judge.put(record("k1", ok=False, text="second try"))
        store.step("other").put(record("k9", step="other"))
    with Store(tmp_path) as again:
        assert again.step("judge").get("k1") == record("k1", ok=False, text="second try")
        keys = [r["key"] for r in again.iter_records("judge")]
        assert keys == ["k3", "k2", "k4", "k1"]  # the replaced record moves to the end
        assert [r["key"] for r in again.iter_records("other")] == ["k9"]
        assert list(again.iter_records("never")) == []
        assert again.count() == 5


def test_records_are_stored_compressed(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        for i in range(50):
            store.step("judge").put(record(f"k{i}", text=f"item {i} " * 40))
    db = sqlite3.connect(tmp_path / FILE_NAME)
    stored = sum(len(blob) for (blob,) in db.execute("SELECT data FROM records"))
    plain = sum(len(json.dumps(record(f"k{i}", text=f"item {i} " * 40))) for i in range(50))
    dicts = db.execute("SELECT count(*) FROM dicts").fetchone()[0]
    db.close()
    assert stored < plain / 4
    assert dicts == 1  # one preset dictionary for the step, made from its first record


def test_old_jsonl_store_is_migrated_then_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    judge, plan = tmp_path / "judge.jsonl", tmp_path / "plan.jsonl"
    lines = [json.dumps(record(key), ensure_ascii=False) + "\n" for key in ["a", "b", "c"]]
    write_lines(judge, [lines[0], "not json\n", '["a list"]\n', lines[1], lines[2]])
    write_lines(plan, [json.dumps(record("p", step="plan")) + "\n", '{"key": "q", "ok": tr'])
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="augmentoolkit.generation_functions.store"):
        store = Store(tmp_path)
    with store:
        assert [r["key"] for r in store.iter_records("judge")] == ["a", "b", "c"]
        assert store.step("judge").get("b") == record("b")
        assert store.step("plan").get("p") == record("p", step="plan")
        assert store.step("plan").get("q") is None  # the torn last line is ignored
        assert store.step_names() == ["empty", "judge", "plan"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".jsonl") == []
    messages = [r.getMessage() for r in caplog.records]
    assert any("migrated 4 records from 3 JSONL step files" in m for m in messages)
    assert any("skipped 2 lines that are not records (2, 3)" in m for m in messages)
    assert any("torn last line" in m for m in messages)


def test_migration_redone_after_a_crash_adds_nothing_twice(tmp_path: Path) -> None:
    old = [json.dumps(record(key)) + "\n" for key in ["a", "b"]]
    write_lines(tmp_path / "judge.jsonl", old)
    with Store(tmp_path) as store:
        store.step("judge").put(record("b", text="newer"))
    write_lines(tmp_path / "judge.jsonl", old)  # as if killed before the file was deleted
    with Store(tmp_path) as again:
        assert again.count() == 2
        assert [r["key"] for r in again.iter_records("judge")] == ["a", "b"]
        assert again.step("judge").get("b") == record("b", text="newer")  # not the stale line
    assert not (tmp_path / "judge.jsonl").exists()


CHILD = """
import sys
from pathlib import Path
from augmentoolkit.generation_functions.store import Store
store = Store(Path(sys.argv[1]))
store.step("judge").put({"key": "landed", "ok": True, "completions": ["done"]})
print("put", flush=True)
sys.stdin.read()  # block until killed
"""


def test_a_put_survives_sigkill_right_after_it_returns(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "put\n"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()
    with Store(tmp_path) as store:
        assert store.step("judge").get("landed") == {
            "key": "landed",
            "ok": True,
            "completions": ["done"],
        }


def test_a_store_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    Store(tmp_path).close()
    db = sqlite3.connect(tmp_path / FILE_NAME)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(ValueError, match="newer Augmentoolkit"):
        Store(tmp_path)


def test_a_closed_store_refuses_new_steps(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.close()
    store.close()
    with pytest.raises(ValueError, match="closed"):
        store.step("judge")
