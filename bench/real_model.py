"""Throughput of the embedded llama.cpp server with the shipped local model (SmolLM2-135M Q4_1).

Run: python bench/real_model.py [--threads N] [--reps N] [--max-tokens N]

Starts EmbeddedServer with the shipped settings (8192 tokens per slot, 2 slots), then sends
chat requests shaped like the pipeline's: a passage from the sample text plus an instruction,
about 600 and about 1500 prompt tokens, 150 generated tokens each. Every request uses a
different passage, so no prompt prefix is reused from the server's cache (worst case; the
pipeline's shared prompt prefixes will do better). `ignore_eos` keeps generation at exactly
--max-tokens so runs compare. Speeds come from the server's own `timings` (llama.cpp measures
prompt processing and generation separately); wall time is measured here. The concurrent row
sends two ~600-token requests at once to the two slots.

Prints one table; nothing is written to disk.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from augmentoolkit.generation_functions.local_model import EmbeddedServer  # noqa: E402

SAMPLE = REPO / "raw_txt_input"
INSTRUCTION = (
    "Read the text above. Write three questions a student could answer from it, each "
    "followed by its answer, in the format 'Question: ...' then 'Answer: ...'."
)
SYSTEM = "You are an expert educator who writes clear, factual questions about a text."


@dataclass
class Result:
    prompt_tokens: int
    completion_tokens: int
    prompt_per_s: float
    gen_per_s: float
    wall_s: float


def sample_words() -> list[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(SAMPLE.glob("*.txt")))
    return text.split()


def post_json(url: str, body: dict[str, Any]) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with opener.open(request, timeout=30) as response:
        return json.loads(response.read())


def passage(root: str, words: list[str], start: int, tokens: int) -> str:
    """About `tokens` tokens of sample text from word `start`, cut with the server's tokenizer."""
    chunk = " ".join(words[start : start + tokens])  # a word is at least one token
    ids = post_json(root + "/tokenize", {"content": chunk})["tokens"][:tokens]
    return str(post_json(root + "/detokenize", {"tokens": ids})["content"])


async def ask(client: openai.AsyncOpenAI, text: str, max_tokens: int) -> Result:
    started = time.perf_counter()
    reply = await client.chat.completions.create(
        model="local-model",
        messages=[
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"{text}\n\n{INSTRUCTION}"},
        ],
        max_tokens=max_tokens,
        temperature=0.7,
        extra_body={"ignore_eos": True},
    )
    wall = time.perf_counter() - started
    timings = (reply.model_extra or {}).get("timings") or {}
    usage = reply.usage
    assert usage is not None, "the server returned no usage"
    return Result(
        usage.prompt_tokens,
        usage.completion_tokens,
        float(timings.get("prompt_per_second", 0.0)),
        float(timings.get("predicted_per_second", 0.0)),
        wall,
    )


def rss_mib(pid: int) -> tuple[float, float]:
    """Current and peak resident memory of a process in MiB (Linux /proc)."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def row(label: str, results: list[Result], wall: float | None = None) -> str:
    prompt = statistics.median(r.prompt_tokens for r in results)
    gen = sum(r.completion_tokens for r in results)
    pp = statistics.median(r.prompt_per_s for r in results)
    tg = statistics.median(r.gen_per_s for r in results)
    total_wall = wall if wall is not None else statistics.median(r.wall_s for r in results)
    out = (
        gen / total_wall
        if wall is not None
        else statistics.median(r.completion_tokens / r.wall_s for r in results)
    )
    return (
        f"| {label:<26} | {len(results):>2} | {prompt:>7.0f} | {pp:>8.1f} | {tg:>7.1f} | "
        f"{total_wall:>6.2f} | {out:>8.1f} |"
    )


async def run(args: argparse.Namespace) -> None:
    words = sample_words()
    started = time.perf_counter()
    server = EmbeddedServer(threads=args.threads)
    base_url = server.start()
    startup = time.perf_counter() - started
    try:
        assert server.pid is not None
        idle_rss, _ = rss_mib(server.pid)
        root = base_url.removesuffix("/v1")
        offsets = iter(range(400, len(words), 1700))  # a fresh passage for every request
        lines = []
        async with openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0) as c:
            await ask(c, passage(root, words, 200, 64), 8)  # warm-up, not counted
            for size in (600, 1500):
                results = []
                for _ in range(args.reps):
                    text = passage(root, words, next(offsets), size - 90)
                    results.append(await ask(c, text, args.max_tokens))
                lines.append(row(f"sequential ~{size} prompt", results))
            texts = [passage(root, words, next(offsets), 510) for _ in range(2)]
            began = time.perf_counter()
            both = await asyncio.gather(*(ask(c, t, args.max_tokens) for t in texts))
            lines.append(row("2 concurrent ~600 prompt", list(both), time.perf_counter() - began))
        _, peak_rss = rss_mib(server.pid)
    finally:
        server.stop()
    print(
        f"SmolLM2-135M-Instruct Q4_1 via xllamacpp, {server.threads} threads, "
        f"{server.context} tokens/slot x {server.parallel} slots"
    )
    print(
        f"startup {startup:.2f} s (spawn to /health OK); server RSS idle {idle_rss:.0f} MiB, "
        f"peak {peak_rss:.0f} MiB"
    )
    print("prompt tok/s and gen tok/s: medians of the server's `timings`; wall and out tok/s")
    print("measured here (out = generated tokens / wall; concurrent row: both requests / wall)")
    print()
    print("| run                        |  n |  prompt | prompt/s |   gen/s | wall s |  out t/s |")
    print("|----------------------------|----|---------|----------|---------|--------|----------|")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="default: usable cores, max 8")
    parser.add_argument("--reps", type=int, default=2, help="requests per prompt size")
    parser.add_argument("--max-tokens", type=int, default=150, help="tokens generated per request")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
