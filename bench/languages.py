"""Languages: chunks within CHUNK_SIZE by a real tokenizer, and grounding and repeat checks, per
language.

What, on the samples of tests/data/languages.yaml (written for the tests: four paragraphs about
an invented town in English, German, Russian, Chinese and Japanese, twenty facts each, plus one
paragraph in each of sixteen further languages):

1. Chunks: each language's text is chunked by `chunk_documents` at CHUNK_SIZE 50, 100, 200 and
   400, and every chunk is tokenized by a real tokenizer: the embedded model's own
   (SmolLM2-135M-Instruct's vocabulary, through the /tokenize route of the llama.cpp server that
   `EmbeddedServer` starts; offline). Result: the share of chunks of the five languages whose
   real count is within CHUNK_SIZE (target 1.0); the further languages are printed too, with
   their own result line.
2. Grounding, on the scripted model: per language, the twenty grounded pairs and, in a second
   run, the twenty planted pairs go through the validation stage itself (`validate_pairs`, each
   pair on its paragraph as its chunk) against the scripted server (tests/llm_server.py), whose
   every model check answers pass, with one vote, no regeneration and MIN_ANSWER_GROUNDING 0.5.
   So whatever is dropped was dropped by the checks without a model; the scripted model only
   stands in for the checks that follow. Results: grounded pairs kept (target >= 0.95) and
   planted pairs dropped for grounding (target >= 0.95), per language and over all.
3. Repeats: the grounded run above also shows that no two of the twenty different questions of
   a chunk were taken for repeats; and the language's two wordings of one question must be.

Run: .venv/bin/python bench/languages.py [--sizes 50,100,200,400] [--no-tokenizer]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

import common

from augmentoolkit.control_flow_functions.chunking import (
    InputDocument,
    chunk_documents,
    parse_source_info,
)
from augmentoolkit.control_flow_functions.grounding import Signature, is_repeat
from augmentoolkit.control_flow_functions.questions import make_pair
from augmentoolkit.control_flow_functions.validation import validate_pairs
from augmentoolkit.generation_functions.local_model import EmbeddedServer
from augmentoolkit.records import Chunk, QAPair, SourceInfo
from tests.helpers import close_context, make_context
from tests.language_samples import Sample, load_samples, token_texts
from tests.llm_server import ScriptedLLMServer

MAIN = ("en", "de", "ru", "zh", "ja")
TARGET_WITHIN = 1.0
TARGET_GROUNDING = 0.95
Tokenize = Callable[[str], int]


def tokenizer(root: str) -> Tokenize:
    """Real token count of a text from the llama.cpp server's /tokenize (no special tokens)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def count(text: str) -> int:
        body = json.dumps({"content": text}).encode("utf-8")
        request = urllib.request.Request(
            root + "/tokenize", data=body, headers={"Content-Type": "application/json"}
        )
        with opener.open(request, timeout=30) as response:
            return len(json.load(response)["tokens"])

    return count


def chunk_rows(count: Tokenize, sizes: list[int]) -> tuple[list[list[object]], dict[str, int]]:
    """Per language: chunks over all sizes, those within CHUNK_SIZE by the real count, the
    largest real ÷ CHUNK_SIZE, and our count ÷ the real one (mean)."""
    rows: list[list[object]] = []
    within: dict[str, int] = {"main": 0, "main_all": 0, "other": 0, "other_all": 0}
    for code, text in token_texts().items():
        doc = InputDocument(Path(f"{code}.txt"), parse_source_info(Path(f"{code}.txt")), text)
        fits = total = 0
        worst = 0.0
        ours: list[float] = []
        for size in sizes:
            for chunk in chunk_documents([doc], size):
                real = count(chunk.text)
                fits += real <= size
                total += 1
                worst = max(worst, real / size)
                ours.append(chunk.tokens / real)
        group = "main" if code in MAIN else "other"
        within[group] += fits
        within[group + "_all"] += total
        rows.append([code, total, fits, worst, sum(ours) / len(ours)])
    return rows, within


def chunk_of(sample: Sample, index: int) -> Chunk:
    text = sample.paragraphs[index]
    return Chunk(
        f"{sample.code}{index}", SourceInfo(f"{sample.code}.txt", sample.name), index, text, 0
    )


def validate(
    server: ScriptedLLMServer, folder: Path, pairs: list[QAPair]
) -> list[dict[str, object]]:
    """validate_pairs on the scripted server: every model check passes, one vote, no
    regeneration, grounding at 0.5. Returns its rows (kept, history)."""
    server.set_responder(lambda request: "The text says so.\nVerdict: pass")
    ctx = make_context(server.base_url, common.REPO / "prompts", folder, parse_retries=0)

    async def go() -> list[dict[str, object]]:
        try:
            _, rows, _ = await validate_pairs(ctx, pairs, 1, 0, False, 0.5)
            return rows
        finally:
            await close_context(ctx)

    return asyncio.run(go())


def last_problem(row: dict[str, object]) -> str:
    history = row["history"]
    assert isinstance(history, list)
    return str(history[-1]["problem"]) if history else ""


def grounding_row(server: ScriptedLLMServer, folder: Path, sample: Sample) -> list[object]:
    """[language, grounded kept, planted dropped for grounding, grounded taken for repeats,
    the two wordings of one question caught as a repeat]"""
    chunks = [chunk_of(sample, i) for i in range(len(sample.paragraphs))]
    grounded = [
        make_pair(chunks[f.paragraph], f.question, f.answer, f"g{n}")
        for n, f in enumerate(sample.facts)
    ]
    planted = [
        make_pair(chunks[f.paragraph], f.question, f.planted, f"p{n}")
        for n, f in enumerate(sample.facts)
    ]
    rows = validate(server, folder / "grounded", grounded)
    kept = sum(bool(row["kept"]) for row in rows)
    repeats = sum(last_problem(row).startswith("duplicate") for row in rows)
    planted_rows = validate(server, folder / "planted", planted)
    dropped = sum(
        not row["kept"] and last_problem(row).startswith("grounding") for row in planted_rows
    )
    asked: set[Signature] = set()
    first, second = (make_pair(chunks[0], q, str(n), f"s{n}") for n, q in enumerate(sample.same))
    caught = not is_repeat(first, asked) and is_repeat(second, asked)
    n = len(sample.facts)
    return [sample.name, kept / n, dropped / n, repeats, "yes" if caught else "NO"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,100,200,400", help="CHUNK_SIZE values")
    parser.add_argument("--no-tokenizer", action="store_true", help="skip the chunk check")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    results: list[str] = []
    if not args.no_tokenizer:
        with EmbeddedServer(context=2048, parallel=1) as server:
            assert server.base_url is not None
            rows, within = chunk_rows(tokenizer(server.base_url.removesuffix("/v1")), sizes)
        print(f"chunks at CHUNK_SIZE {args.sizes}, counted by SmolLM2's tokenizer:")
        print(common.table(["lang", "chunks", "within", "max real/size", "ours/real"], rows))
        main_share = within["main"] / within["main_all"]
        other_share = within["other"] / within["other_all"]
        results.append(
            common.result("chunks_within_size", main_share, "1.0", main_share >= TARGET_WITHIN)
        )
        results.append(
            common.result(
                "chunks_within_size_16_more", other_share, "1.0", other_share >= TARGET_WITHIN
            )
        )
    with ScriptedLLMServer() as llm, common.temp_dir() as folder:
        samples = load_samples()
        rows = [grounding_row(llm, folder / code, samples[code]) for code in MAIN]
    print("\ngrounding and repeats (validate_pairs on the scripted server, 20 facts each):")
    headers = ["lang", "grounded kept", "planted dropped", "false repeats", "repeat caught"]
    print(common.table(headers, rows))
    accepted = min(float(row[1]) for row in rows)  # type: ignore[arg-type]
    rejected = min(float(row[2]) for row in rows)  # type: ignore[arg-type]
    results.append(
        common.result("grounded_accepted_min", accepted, ">= 0.95", accepted >= TARGET_GROUNDING)
    )
    results.append(
        common.result("planted_rejected_min", rejected, ">= 0.95", rejected >= TARGET_GROUNDING)
    )
    print()
    print("\n".join(results))


if __name__ == "__main__":
    main()
