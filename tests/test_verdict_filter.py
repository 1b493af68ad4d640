"""Validation keeps every vote as data, and `augmentoolkit export --min-score S` re-decides the
pairs from them with no model call: 1.0 drops every pair with a failed vote (and the
conversations built from it); a lower S lets a dropped pair whose checks all ran back into the
pair files; without --min-score the export is the run's, byte for byte."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from augmentoolkit.context import STAGE_ROWS_VERSION
from augmentoolkit.control_flow_functions.export import DATASET_FILES
from augmentoolkit.control_flow_functions.verdicts import check_scores, pair_score, passes
from augmentoolkit.offline import export
from augmentoolkit.pipeline import run_pipeline
from tests.conftest import ConfigFactory
from tests.fake_model import final_user_text, fraction, reply
from tests.llm_server import RecordedRequest, ScriptedLLMServer
from tests.test_cli import run_cli
from tests.test_pipeline import read_jsonl, sample_config

FAIL = "Not answerable from the text.\nVerdict: fail"


def row(kept: bool, checks: list[str], *votes: tuple[str, bool | None]) -> dict[str, Any]:
    ballots = [{"check": c, "passed": p, "reason": ""} for c, p in votes]
    return {"kept": kept, "checks": checks, "votes": ballots}


def test_the_score_is_the_lowest_share_of_passing_votes() -> None:
    checks = ["grounding", "check_question", "check_answer_accuracy"]
    split = row(
        True,
        checks,
        ("grounding", True),
        ("check_question", True),
        ("check_question", None),  # unreadable: counts for neither side
        ("check_question", False),
        ("check_question", True),
        ("check_answer_accuracy", True),
        ("check_answer_accuracy", True),
    )
    assert check_scores(split) == {
        "grounding": 1.0,
        "check_question": pytest.approx(2 / 3),
        "check_answer_accuracy": 1.0,
    }
    assert pair_score(split) == pytest.approx(2 / 3)
    assert passes(split, None) and passes(split, 0.6) and not passes(split, 1.0)
    unreached = row(False, checks, ("grounding", True), ("check_question", False))
    assert pair_score(unreached) == 0.0 and not passes(unreached, 0.01)
    assert pair_score(row(False, ["duplicate_question"], ("duplicate_question", False))) == 0.0
    assert not passes(row(False, checks, ("grounding", True)), None)  # None: the run's decision
    assert STAGE_ROWS_VERSION >= 2  # rows changed shape: old folders are rebuilt from the store


def split_votes() -> Any:
    """The fake model, except that check_question splits on some pairs: 2 to 1 for (kept, score
    2/3), 1 to 2 against for others (dropped, score 1/3)."""
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def respond(request: RecordedRequest) -> str:
        text = final_user_text(request)
        answer = reply(request)
        if request.step != "check_question" or not answer.endswith("pass"):
            return answer
        with lock:
            seen[text] += 1
            nth = seen[text]
        share = fraction(text, "split")
        if share < 0.3 and nth == 2 or 0.3 <= share < 0.45 and nth >= 2:
            return FAIL
        return answer

    return respond


def pair_key(pair: dict[str, Any]) -> tuple[str, str, str]:
    return pair["question"], pair["answer"], pair["chunk_id"]


def exported(output: Path) -> tuple[set[tuple[str, str, str]], list[list[tuple[str, str, str]]]]:
    """The pairs of qa_pairs.jsonl, and each conversation's pairs."""
    pairs = {pair_key(p) for p in read_jsonl(output / "qa_pairs.jsonl")}
    conversations = [
        [pair_key(p) for p in r["qa_pairs"]] for r in read_jsonl(output / "master_list.jsonl")
    ]
    return pairs, conversations


@pytest.mark.slow
def test_min_score_tightens_and_relaxes_from_stored_votes_without_a_call(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, tmp_path: Path
) -> None:
    server.set_responder(split_votes())
    config = sample_config(make_config, server, sample_input, QA_REGENERATIONS=0)
    asyncio.run(run_pipeline(config))
    output, calls = config.PATH.OUTPUT, server.count()
    run_bytes = {name: (output / name).read_bytes() for name in DATASET_FILES}
    rows = read_jsonl(output / "qatuples_validated" / "validation.jsonl")
    repaired = {
        r["pair"]["id"]: r["pair"]
        for r in read_jsonl(output / "qatuples_revised" / "repairs.jsonl")
        if r["verdict"] in ("pass", "reworded")
    }
    split = {r["pair"]["id"] for r in rows if r["kept"] and pair_score(r) < 1.0}
    unanimous = {pair_key(p) for i, p in repaired.items() if i not in split}
    assert split and unanimous, "the scripted votes should split on some kept pairs"
    assert all(pair_score(r) == pytest.approx(2 / 3) for r in rows if r["pair"]["id"] in split)

    code, out, err = run_cli(
        "export", "--config", str(config.source), "--min-score", "1.0", cwd=tmp_path
    )
    assert code == 0, err
    pairs, conversations = exported(output)
    before_pairs, before_conversations = exported_from(run_bytes)
    assert pairs <= unanimous and len(pairs) < len(before_pairs)
    assert all(set(c) <= unanimous for c in conversations)
    assert len(conversations) < len(before_conversations)

    export(config, 0.3)  # relaxing: the 1-to-2 pairs come back, as first asked
    again = [r for r in rows if not r["kept"] and pair_score(r) >= 0.3]
    assert again, "the scripted votes should fail some pairs 1 to 2"
    pairs, conversations = exported(output)
    assert {pair_key(r["pair"]) for r in again} <= pairs and len(pairs) > len(before_pairs)
    assert (output / "master_list.jsonl").read_bytes() == run_bytes["master_list.jsonl"]

    export(config)  # the default: the run's own decisions, byte for byte
    assert {name: (output / name).read_bytes() for name in DATASET_FILES} == run_bytes
    assert server.count() == calls  # not one request from any export

    code, _, err = run_cli(
        "export", "--config", str(config.source), "--min-score", "0", cwd=tmp_path
    )
    assert code == 2 and "above 0 and at most 1" in err


def exported_from(files: dict[str, bytes]) -> tuple[set[Any], list[Any]]:
    lines = files["qa_pairs.jsonl"].decode().splitlines()
    pairs = {pair_key(json.loads(line)) for line in lines if line}
    master = files["master_list.jsonl"].decode().splitlines()
    return pairs, [[pair_key(p) for p in json.loads(line)["qa_pairs"]] for line in master if line]
