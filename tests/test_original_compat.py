"""A user of the original Augmentoolkit: their v1 config.yaml loads (each difference one notice
line), and their prompt folder's files are used for the matching step or named in one line
each, never passed over in silence."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from augmentoolkit.config import Config, load_config
from augmentoolkit.context import check_prompts
from augmentoolkit.errors import ConfigError, PromptError
from augmentoolkit.generation_functions.prompts import PromptLibrary, render
from augmentoolkit.pipeline import run_pipeline
from augmentoolkit.stages import STAGES
from tests.conftest import REPO, ConfigFactory, write_config
from tests.fake_model import reply
from tests.llm_server import ScriptedLLMServer

# The original's v1 config.yaml, key for key (values in its style: quoted text, bare booleans).
ORIGINAL_CONFIG = """\
PATH:
  INPUT: "./raw_txt_input"
  OUTPUT: "./output"
  DEFAULT_PROMPTS: "./prompts"
  PROMPTS: "./prompts"
API:
  API_KEY: ""
  BASE_URL: "https://api.together.xyz"
  LOGICAL_MODEL: "NousResearch/Nous-Hermes-2-Mixtral-8x7B-DPO"
  LARGE_LOGICAL_MODEL: "NousResearch/Nous-Hermes-2-Mixtral-8x7B-DPO"
  QUANTIZATION_SMALL: "gptq"
  QUANTIZATION_LARGE: "gptq"
SYSTEM:
  USE_FILENAMES: False
  ASSISTANT_MODE: True
  DOUBLE_CHECK_COUNTER: 3
  USE_SUBSET: True
  REARRANGEMENTS_TO_TAKE: 3
  CONCURRENCY_LIMIT: 50
  COMPLETION_MODE: False
  MODE: "api"
  GRAPH: False
  STOP: True
"""


def original_setup(folder: Path, text: str = ORIGINAL_CONFIG) -> Path:
    """The original's layout: config.yaml beside raw_txt_input/ and this version's prompts/."""
    (folder / "raw_txt_input").mkdir()
    (folder / "raw_txt_input" / "a.txt").write_text("Bees fly. Bees sting.", encoding="utf-8")
    shutil.copytree(REPO / "prompts", folder / "prompts")
    path = folder / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_original_v1_config_loads_with_one_notice_per_difference(tmp_path: Path) -> None:
    config = load_config(original_setup(tmp_path))
    assert config.API.LOGICAL_MODEL == "NousResearch/Nous-Hermes-2-Mixtral-8x7B-DPO"
    assert config.SYSTEM.USE_SUBSET is True and config.SYSTEM.SUBSET_SIZE == 13
    assert config.APHRODITE.QUANTIZATION == "gptq"
    assert [notice.split(":")[0] for notice in config.notices] == [
        "API.QUANTIZATION_SMALL",
        "API.QUANTIZATION_LARGE",
    ]
    assert "no effect in MODE api" in config.notices[0]
    assert "has no effect" in config.notices[1]
    assert all("\n" not in notice for notice in config.notices)


def test_the_original_v1_config_passes_check(tmp_path: Path) -> None:
    path = original_setup(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "processing.py"),
            "--config",
            str(path),
            "--check",
            "--offline",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "config and prompts are valid" in done.stdout
    assert "notice: API.QUANTIZATION_SMALL" in done.stderr


def test_aphrodite_mode_of_the_original_maps_onto_one_model(tmp_path: Path) -> None:
    text = ORIGINAL_CONFIG.replace('MODE: "api"', 'MODE: "aphrodite"').replace(
        "COMPLETION_MODE: False", "COMPLETION_MODE: True"
    )
    config = load_config(original_setup(tmp_path, text))
    assert config.APHRODITE.MODEL == "NousResearch/Nous-Hermes-2-Mixtral-8x7B-DPO"
    assert config.APHRODITE.QUANTIZATION == "gptq"
    named = [notice.split(":")[0] for notice in config.notices]
    assert named == ["API.QUANTIZATION_SMALL", "API.QUANTIZATION_LARGE", "APHRODITE.MODEL"]
    assert "no effect in MODE api" not in config.notices[0]


@pytest.mark.parametrize(
    ("given", "check", "notice"),
    [
        ({"SYSTEM": {"MODE": "llamacpp"}}, lambda c: c.SYSTEM.MODE == "api", "SYSTEM.MODE"),
        (
            {"SYSTEM": {"USE_FILE_NAMES": True}},
            lambda c: c.SYSTEM.USE_FILENAMES is True,
            "SYSTEM.USE_FILE_NAMES",
        ),
        ({"SYSTEM": {"GRAPH": "True"}}, lambda c: c.SYSTEM.GRAPH is True, "SYSTEM.GRAPH"),
        ({"SYSTEM": {"STOP": "false"}}, lambda c: c.SYSTEM.STOP is False, "SYSTEM.STOP"),
        (
            {"SYSTEM": {"REQUEST_TIMEOUT": 7}},
            lambda c: c.API.REQUEST_TIMEOUT == 7.0,
            "SYSTEM.REQUEST_TIMEOUT",
        ),
    ],
)
def test_earlier_names_and_forms_are_read_with_a_notice(
    make_config: ConfigFactory, given: dict[str, Any], check: Any, notice: str
) -> None:
    config = make_config(**given)
    assert check(config)
    assert [line.split(":")[0].split(" ")[0] for line in config.notices] == [notice]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"SYSTEM": {"CONCURENCY_LIMIT": 5}}, "Did you mean CONCURRENCY_LIMIT?"),
        ({"API": {"QUANTISATION_SMALL": "gptq"}}, "API.QUANTISATION_SMALL: unknown key"),
        ({"SYSTEM": {"OUTPUT_SHAPES": "original"}}, "Did you mean OUTPUT_SHAPE?"),
        ({"SYSTEM": {"OUTPUT_SHAPE": "v1"}}, "'v1' is not one of default, original"),
        (
            {"API": {"QUANTIZATION_SMALL": "gptq"}, "APHRODITE": {"QUANTIZATION": "awq"}},
            "API.QUANTIZATION_SMALL: 'gptq' differs from APHRODITE.QUANTIZATION 'awq'",
        ),
        (
            {"SYSTEM": {"LOGICAL_MODEL": "m-1"}},
            "SYSTEM.LOGICAL_MODEL: also given as API.LOGICAL_MODEL",
        ),
        (
            {"SYSTEM": {"USE_FILE_NAMES": True, "USE_FILENAMES": False}},
            "SYSTEM.USE_FILE_NAMES: an earlier name of SYSTEM.USE_FILENAMES",
        ),
    ],
)
def test_typos_and_conflicts_stay_errors(
    make_config: ConfigFactory, given: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(**given)
    assert len(caught.value.problems) == 1
    assert expected in caught.value.problems[0]


def test_an_unknown_section_names_the_nearest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, {"SYSTM": {"GRAPH": True}}))
    assert "SYSTM: unknown section. Did you mean SYSTEM?" in caught.value.problems[0]


# --- prompts --------------------------------------------------------------------------------

# The original's layouts, written for these tests: a chat prompt is a JSON list of messages, a
# completion prompt one text of ### Instruction: / ### Response: turns ending in an open one.
PLAN_REPLY = "Step 1. Identify Key Topics: the hive, its heat and its workers."
PLAN_TXT = f"""You plan questions about a text. A brace {{like this}} and $5 stay as they are.

### Instruction:
Text:
\"\"\"
Hives hold wax.
\"\"\"

### Response:
## Reasoning and thought process:
{PLAN_REPLY}

### Instruction:
Text:
\"\"\"
{{text}}
\"\"\"

### Response:
## Reasoning and thought process (being careful):
"""


def chat(*turns: tuple[str, str]) -> str:
    return json.dumps([{"role": role, "content": content} for role, content in turns])


JUDGE_JSON = chat(
    ("system", "Judge the paragraph. End with Suitable or Not suitable."),
    ("user", "Text:\\n{text}"),
    ("assistant", "Step 7. Final Judgment: Suitable for educational questions."),
    ("user", "Text:\\n{text}\\nThe book is {textname}."),
)
PLAN_JSON = chat(
    ("system", "You plan questions."),
    ("user", "Text: {text}"),
    ("assistant", PLAN_REPLY),
    ("user", "Text: {text}"),
)
CONVERSATION_JSON = chat(("user", "{character} {extra_info} {question_answer_list}"))


def override_folder(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "my_prompts"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def library_for(config: Config) -> PromptLibrary:
    prompts = PromptLibrary(config.PATH.PROMPTS, config.PATH.DEFAULT_PROMPTS)
    check_prompts(prompts, config, STAGES)
    return prompts


def lines_by_file(prompts: PromptLibrary) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in prompts.notices:
        path, _, rest = line.partition(": ")
        assert Path(path).name not in found, f"two lines for {path}"
        found[Path(path).name] = rest
    return found


ORIGINAL_FOLDER = {
    "qatuples_plan_no_filenames.txt": PLAN_TXT,
    "qatuples_plan_no_filenames.json": PLAN_JSON,
    "qatuples_plan_filenames.json": PLAN_JSON,
    "judge_paragraph_no_filenames.json": JUDGE_JSON,
    "multi_turn_conversation.json": CONVERSATION_JSON,
    "check_question.txt": "Is the question sensible?\n\n### Instruction:\nWhy?\n\n"
    "### Response:\nThe question is vague, so it is: Irrelevant.\n\n"
    "### Instruction:\n{question}\n\n### Response:\n",
    "generate_new_question.json": "[not json",
    "notes.md": "my notes",
    "judge_chunk.txt": (REPO / "prompts" / "judge_chunk.txt").read_text(encoding="utf-8"),
}


@pytest.mark.parametrize("completion_mode", [True, False])
def test_every_file_of_an_original_prompt_folder_is_used_or_named(
    make_config: ConfigFactory, tmp_path: Path, completion_mode: bool
) -> None:
    folder = override_folder(tmp_path, ORIGINAL_FOLDER)
    config = make_config(PATH={"PROMPTS": str(folder)}, SYSTEM={"COMPLETION_MODE": completion_mode})
    prompts = library_for(config)
    lines = lines_by_file(prompts)
    ours = {"judge_chunk.txt"}  # this version's own file: no line needed
    assert set(lines) == set(ORIGINAL_FOLDER) - ours
    used = (
        "qatuples_plan_no_filenames.txt" if completion_mode else "qatuples_plan_no_filenames.json"
    )
    other = (
        "qatuples_plan_no_filenames.json" if completion_mode else "qatuples_plan_no_filenames.txt"
    )
    assert lines[used].startswith(
        "the original's prompt, used for plan_questions ({text} as $chunk"
    )
    assert lines[other].startswith("not used:")
    assert "USE_FILENAMES is False" in lines["qatuples_plan_filenames.json"]
    assert (
        "judge_chunk.txt, this version's own prompt for judge_chunk"
        in lines["judge_paragraph_no_filenames.json"]
    )
    assert (
        "does not run with these settings (it runs only with ASSISTANT_MODE False)"
        in lines["multi_turn_conversation.json"]
    )
    assert "not valid JSON" in lines["generate_new_question.json"]
    assert "new_question.txt" in lines["generate_new_question.json"]  # the name to rename it to
    assert "not a prompt of this version" in lines["notes.md"]
    assert prompts.originals["plan_questions"].path.name == used
    # the original-layout check_question.txt is not read: the shipped one is used meanwhile
    reason = "Rewrite it in this version's layout as" if completion_mode else "a completion prompt"
    assert reason in lines["check_question.txt"]
    assert prompts.load("check_question").path == REPO / "prompts" / "check_question.txt"


def test_a_file_whose_placeholders_or_replies_do_not_fit_gets_its_new_name(
    make_config: ConfigFactory, tmp_path: Path
) -> None:
    folder = override_folder(
        tmp_path,
        {
            "judge_paragraph_no_filenames.json": JUDGE_JSON,
            "multi_turn_conversation.json": CONVERSATION_JSON,
        },
    )
    config = make_config(PATH={"PROMPTS": str(folder)}, SYSTEM={"ASSISTANT_MODE": False})
    lines = lines_by_file(library_for(config))
    judge = lines["judge_paragraph_no_filenames.json"]
    assert "its worked replies are not in the layout judge_chunk's parser reads" in judge
    assert "Rewrite it in this version's layout as judge_chunk.txt" in judge
    conversation = lines["multi_turn_conversation.json"]
    assert (
        "it uses {extra_info}, which write_conversation_characters has no value for" in conversation
    )
    assert "as write_conversation_characters.txt" in conversation


def test_an_original_prompt_renders_with_the_steps_values(
    make_config: ConfigFactory, tmp_path: Path
) -> None:
    folder = override_folder(tmp_path, {"qatuples_plan_no_filenames.txt": PLAN_TXT})
    config = make_config(PATH={"PROMPTS": str(folder)}, SYSTEM={"COMPLETION_MODE": True})
    template = library_for(config).load("plan_questions")
    chunk = 'Odd text: {text} ${chunk} "quoted" \\ end.'
    rendered = render(template, {"chunk": chunk, "source": "x"}, completion_mode=True)
    assert rendered.text == PLAN_TXT.replace("{text}", chunk)  # the original's bytes, filled


def test_a_defaults_folder_of_original_prompts_is_named(
    make_config: ConfigFactory, tmp_path: Path
) -> None:
    folder = override_folder(tmp_path, {"judge_paragraph_no_filenames.json": JUDGE_JSON})
    config = make_config(PATH={"PROMPTS": str(folder), "DEFAULT_PROMPTS": str(folder)})
    with pytest.raises(PromptError, match="holds the original Augmentoolkit's prompts"):
        library_for(config)


def test_a_run_sends_the_original_prompt_and_prints_each_line(
    server: ScriptedLLMServer,
    make_config: ConfigFactory,
    tmp_path: Path,
    sample_input: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.set_responder(reply)
    folder = override_folder(tmp_path, {"qatuples_plan_no_filenames.txt": PLAN_TXT, "x.md": ""})
    config = make_config(
        PATH={"INPUT": str(sample_input), "PROMPTS": str(folder)},
        API={"BASE_URL": server.base_url, "QUANTIZATION_LARGE": "gptq"},
        SYSTEM={"USE_SUBSET": True, "SUBSET_SIZE": 2, "COMPLETION_MODE": True},
    )
    asyncio.run(run_pipeline(config))
    plans = [r for r in server.requests if r.step == "plan_questions"]
    assert plans
    for request in plans:
        prompt = str(request.body["prompt"])
        assert prompt.startswith("You plan questions about a text. A brace {like this} and $5")
        assert prompt.endswith("### Response:\n## Reasoning and thought process (being careful):\n")
    said = capsys.readouterr().err
    assert "notice: API.QUANTIZATION_LARGE:" in said
    assert (
        f"notice: {folder / 'qatuples_plan_no_filenames.txt'}: the original's prompt, used" in said
    )
    assert f"notice: {folder / 'x.md'}: not a prompt" in said


def test_config_yaml_documents_output_shape() -> None:
    shipped = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    assert shipped["SYSTEM"]["OUTPUT_SHAPE"] == "default"
