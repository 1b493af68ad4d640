"""Fault drill: does a run under a misbehaving server ever lose items silently?

What: `python processing.py` on the shipped sample (USE_SUBSET, 4 chunks by default, fake model)
first against a clean scripted server, then, for each of several seeds, against the same server
drawing a mixed fault load per request: 20% 429 with Retry-After, 5% 500, 5% stalls past the
request timeout, 5% garbage bodies, 5% dropped connections. Retries are kept low
(API.MAX_RETRIES 1) so that some calls fail for good, as they do with a real flaky provider. Each
faulty run is followed by a fault-free rerun on the same OUTPUT.

Reported per seed: the faulty run's exit status and conversations, conversations a clean run
does not write, the rerun's exit status and calls, and whether the rerun's datasets equal the
clean run's. Results:
- silent_short_runs: faulty runs that exit 0 with fewer conversations than the clean run
  (target 0: a run that lost items must say so with exit status 3);
- foreign_conversations: conversations written by a faulty run that a clean run never writes
  (target 0);
- rerun_calls_vs_clean: calls of the completing reruns ÷ calls of a clean run, for information
  (a rerun pays only for what the faulty run did not finish).

How: the scripted server (tests/llm_server.py) runs in a thread of this process; each pipeline
run is its own `processing.py` process, so they do not share a GIL with it.

Run: .venv/bin/python bench/faults.py [--seeds 4] [--subset 4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import common

from tests.fake_model import reply
from tests.llm_server import ScriptedLLMServer

MIX = {"429": 0.20, "500": 0.05, "slow": 0.05, "malformed": 0.05, "drop": 0.05}
TIMEOUT = 0.5  # seconds per request; a stall lasts longer
DATASETS = ("master_list.jsonl", "simplified_data.jsonl", "qa_pairs.jsonl")


def run(config: Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(common.REPO)}
    command = [sys.executable, str(common.REPO / "processing.py"), "--config", str(config)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=common.REPO)
    return done.returncode


def conversations(output: Path) -> list[bytes]:
    path = output / "master_list.jsonl"
    return path.read_bytes().splitlines() if path.exists() else []


def datasets(output: Path) -> dict[str, bytes]:
    return {name: (output / name).read_bytes() for name in DATASETS if (output / name).exists()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4, help="faulty runs, one seed each")
    parser.add_argument("--subset", type=int, default=4, help="chunks of the sample")
    args = parser.parse_args()
    common.clean_environment()
    server = ScriptedLLMServer(reply)
    server.start()
    try:
        with common.temp_dir("atk-faults-") as folder:
            rows, silent, foreign, rerun_calls = drill(server, folder, args.seeds, args.subset)
    finally:
        server.stop()
    headers = ["run", "exit", "conversations", "not in clean", "rerun exit", "rerun calls"]
    headers.append("rerun = clean")
    print(common.table(headers, rows))
    print(common.result("foreign_conversations", foreign, "0", foreign == 0))
    print(f"rerun_calls_vs_clean = {rerun_calls:.3f} (information)")
    print(common.result("silent_short_runs", silent, "0", silent == 0))


def drill(
    server: ScriptedLLMServer, folder: Path, seeds: int, subset: int
) -> tuple[list[list[object]], int, int, float]:
    def config(name: str) -> Path:
        written = common.write_config(
            folder,
            server.base_url,
            output=folder / name,
            name=f"{name}.yaml",
            USE_SUBSET=True,
            SUBSET_SIZE=subset,
            CONCURRENCY_LIMIT=8,
            api={"MAX_RETRIES": 1, "REQUEST_TIMEOUT": TIMEOUT},
        )
        return Path(written.source)

    server.reset()
    clean_exit = run(config("clean"))
    clean_calls = server.count()
    clean = set(conversations(folder / "clean"))
    rows: list[list[object]] = [["clean", clean_exit, len(clean), 0, "-", clean_calls, "-"]]
    silent = foreign = 0
    rerun_total = 0
    for seed in range(seeds):
        name = f"seed{seed}"
        server.reset()
        server.set_fault_rates(MIX, seed=seed, delay=3 * TIMEOUT, retry_after=0.2)
        exit_status = run(config(name))
        written = conversations(folder / name)
        strangers = sum(1 for row in written if row not in clean)
        silent += exit_status == 0 and len(written) < len(clean)
        foreign += strangers
        server.reset()
        rerun_exit = run(config(name))
        rerun_total += server.count()
        same = datasets(folder / name) == datasets(folder / "clean")
        rows.append([name, exit_status, len(written), strangers, rerun_exit, server.count(), same])
    return rows, silent, foreign, rerun_total / max(1, clean_calls * seeds)


if __name__ == "__main__":
    main()
