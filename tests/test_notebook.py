"""processing.ipynb runs top to bottom in a real Jupyter kernel against the scripted server and
writes the same dataset as processing.py does, plus the run report and the run log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO, ConfigFactory
from tests.fake_model import reply
from tests.llm_server import ScriptedLLMServer
from tests.test_pipeline import DATASETS, check_outputs, sample_config


def test_notebook_executes_every_stage(
    server: ScriptedLLMServer,
    make_config: ConfigFactory,
    sample_input: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.set_responder(reply)
    config = sample_config(make_config, server, sample_input, SUBSET_SIZE=2)
    monkeypatch.setenv("AUGMENTOOLKIT_CONFIG", str(config.source))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    notebook = nbformat.read(REPO / "processing.ipynb", as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    )
    client.execute()
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [o for cell in code_cells for o in cell.outputs if o.output_type == "error"]
    assert errors == []
    check_outputs(config, sample_input)
    stages = {r.step for r in server.requests}
    assert {"judge_chunk", "generate_questions", "write_conversation_assistant"} <= stages
    last = code_cells[-1].outputs[-1]
    assert "simplified_data.jsonl" in json.dumps(last.get("data", {}))
    output = config.PATH.OUTPUT
    assert "| judge chunks |" in (output / "run_report.md").read_text(encoding="utf-8")
    assert "judge chunks: in 2" in (output / "run.log").read_text(encoding="utf-8")

    script = sample_config(make_config, server, sample_input, tmp_path / "script", SUBSET_SIZE=2)
    command = [sys.executable, str(REPO / "processing.py"), "--config", str(script.source)]
    ran = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=os.environ)
    assert ran.returncode == 0, ran.stderr
    for name in DATASETS:
        assert (script.PATH.OUTPUT / name).read_bytes() == (output / name).read_bytes(), name


def test_notebook_has_a_markdown_cell_before_each_stage() -> None:
    notebook = nbformat.read(REPO / "processing.ipynb", as_version=4)
    cells = notebook.cells
    for index, cell in enumerate(cells[1:], start=1):
        if cell.cell_type == "code" and "run." in cell.source:
            assert cells[index - 1].cell_type == "markdown"
