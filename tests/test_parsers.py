"""Case tables of model replies, good and malformed, for every parser in parsers.py."""

from __future__ import annotations

import pytest

from augmentoolkit.errors import ParseError
from augmentoolkit.generation_functions.parsers import (
    SNIPPET_LENGTH,
    RepairOutcome,
    format_qa_list,
    parse_character_card,
    parse_conversation,
    parse_judgement,
    parse_plan,
    parse_qa_pairs,
    parse_repair,
    parse_scenario,
    parse_single_qa,
    parse_verdict,
)

# ---------------------------------------------------------------- parse_verdict

VERDICTS = [
    pytest.param(
        "The question is clear.\nVerdict: pass", True, "The question is clear.", id="plain"
    ),
    pytest.param("It adds a date.\nVerdict: fail", False, "It adds a date.", id="fail"),
    pytest.param("Fine.\n**Verdict:** PASS", True, "Fine.", id="bold-label-upper"),
    pytest.param("Fine.\n**Verdict**: Pass", True, "Fine.", id="bold-word-colon-out"),
    pytest.param("Wrong.\nVerdict: **fail**", False, "Wrong.", id="bold-value"),
    pytest.param("Wrong.\nVerdict - fail", False, "Wrong.", id="dash"),
    pytest.param("Wrong.\nFinal verdict: FAIL", False, "Wrong.", id="final-verdict"),
    pytest.param("Wrong.\nMy final verdict: failed.", False, "Wrong.", id="my-final-failed"),
    pytest.param("Good.\n### Verdict: pass", True, "Good.", id="heading"),
    pytest.param("Good.\n- Verdict: passes", True, "Good.", id="bullet-passes"),
    pytest.param("Good.\nverdict: pass   \n\n  ", True, "Good.", id="lowercase-trailing-space"),
    pytest.param("Good.\nVerdict:\n**Pass**", True, "Good.", id="value-next-line"),
    pytest.param("```\nGood.\nVerdict: pass\n```", True, "Good.", id="code-fence"),
    pytest.param("Verdict: pass", True, "", id="no-reasoning"),
    pytest.param(
        "At first: Verdict: pass\nBut the answer adds a name.\nVerdict: fail",
        False,
        "At first: Verdict: pass\nBut the answer adds a name.",
        id="last-verdict-line-wins",
    ),
    pytest.param(
        "Verdict: pass\nOn reflection the chunk never says this.\nVerdict: fail",
        False,
        "Verdict: pass\nOn reflection the chunk never says this.",
        id="two-verdict-lines",
    ),
    pytest.param("It should pass.\nVerdict: fail", False, "It should pass.", id="pass-in-prose"),
    pytest.param("All facts match.\n\n**PASS**", True, "All facts match.", id="bare-last-line"),
    pytest.param("Reasoning.\r\nVerdict: fail\r\n", False, "Reasoning.", id="windows-newlines"),
    pytest.param(
        "Verdict: fail - the answer adds a year.", False, "", id="explanation-after-verdict"
    ),
]


@pytest.mark.parametrize(("reply", "passed", "reasoning"), VERDICTS)
def test_parse_verdict(reply: str, passed: bool, reasoning: str) -> None:
    assert parse_verdict(reply) == (passed, reasoning)


BAD_VERDICTS = [
    pytest.param("", id="empty"),
    pytest.param("The question makes sense and is answerable.", id="no-verdict"),
    pytest.param("Reasoning.\nVerdict: maybe", id="unknown-word"),
    pytest.param("Reasoning.\nVerdict: suitable", id="judge-word"),
    pytest.param("I think the verdict: pass is right, but", id="verdict-mid-line"),
    pytest.param("PASS\nThe question is clear.", id="bare-word-not-last-line"),
]


@pytest.mark.parametrize("reply", BAD_VERDICTS)
def test_parse_verdict_rejects(reply: str) -> None:
    with pytest.raises(ParseError, match="no 'Verdict: pass' or 'Verdict: fail' line"):
        parse_verdict(reply)


def test_parse_verdict_ignores_chatter_after_the_verdict_line() -> None:
    assert parse_verdict("Verdict: fail\nLet me know if you need more.") == (False, "")


def test_parse_error_quotes_a_trimmed_snippet_of_the_end() -> None:
    reply = "word " * 200 + "no verdict here at the very end"
    with pytest.raises(ParseError) as caught:
        parse_verdict(reply)
    message = str(caught.value)
    assert "no verdict here at the very end'" in message
    assert len(message) < SNIPPET_LENGTH + 80


# ---------------------------------------------------------------- parse_judgement

JUDGEMENTS = [
    pytest.param("It explains how bees cool a hive.\nVerdict: suitable", True, id="suitable"),
    pytest.param("A table of contents.\nVerdict: unsuitable", False, id="unsuitable"),
    pytest.param("Index only.\n**Verdict:** Unsuitable", False, id="bold"),
    pytest.param("Index only.\nVerdict: not suitable.", False, id="not-suitable"),
    pytest.param("Facts.\nVERDICT: SUITABLE", True, id="upper"),
    pytest.param("Facts.\nverdict - suitable  ", True, id="dash-lower"),
    pytest.param("Facts.\nJudgement: suitable", True, id="judgement-label"),
    pytest.param("Facts.\n\nSuitable.", True, id="bare-last-line"),
    pytest.param("```text\nCopyright page.\nVerdict: unsuitable\n```", False, id="fenced"),
    pytest.param(
        "Verdict: suitable\nWait, it is only a dedication.\nVerdict: unsuitable",
        False,
        id="last-wins",
    ),
    pytest.param("Not a table of contents.\nVerdict: suitable", True, id="negation-in-prose"),
]


@pytest.mark.parametrize(("reply", "suitable"), JUDGEMENTS)
def test_parse_judgement(reply: str, suitable: bool) -> None:
    assert parse_judgement(reply) is suitable


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param("", id="empty"),
        pytest.param("It holds facts worth asking about.", id="no-verdict"),
        pytest.param("Facts.\nVerdict: pass", id="pass-fail-word"),
        pytest.param("Facts.\nVerdict: unclear", id="unknown-word"),
    ],
)
def test_parse_judgement_rejects(reply: str) -> None:
    with pytest.raises(ParseError, match="Verdict: suitable"):
        parse_judgement(reply)


# ---------------------------------------------------------------- parse_plan


@pytest.mark.parametrize(
    ("reply", "plan"),
    [
        (
            "  1. What a starter is.\n2. How fast it rises.  \n",
            "1. What a starter is.\n2. How fast it rises.",
        ),
        ("```\nAsk about the lens.\n```", "Ask about the lens."),
        ("Ask about lenses", "Ask about lenses"),
        ("Fragen zur Linse stellen", "Fragen zur Linse stellen"),
    ],
)
def test_parse_plan(reply: str, plan: str) -> None:
    assert parse_plan(reply) == plan


@pytest.mark.parametrize("reply", ["!?.,;:" * 13 + "!!", "1. 2. 3. 4.", "ok", "-- ** --"])
def test_parse_plan_rejects_replies_without_words(reply: str) -> None:
    with pytest.raises(ParseError, match="fewer than 3 words"):
        parse_plan(reply)


@pytest.mark.parametrize("reply", ["", "   \n\t ", "```\n```"])
def test_parse_plan_rejects_empty(reply: str) -> None:
    with pytest.raises(ParseError, match="empty"):
        parse_plan(reply)


# ---------------------------------------------------------------- parse_qa_pairs

TWO_PAIRS = [
    ("What is a starter?", "Flour and water with wild yeasts."),
    ("How fast does it rise?", "It doubles in four to eight hours."),
]
QA_REPLIES = [
    pytest.param(
        "Question 1: What is a starter?\nAnswer 1: Flour and water with wild yeasts.\n\n"
        "Question 2: How fast does it rise?\nAnswer 2: It doubles in four to eight hours.",
        TWO_PAIRS,
        id="documented-layout",
    ),
    pytest.param(
        "Sure! Here are the pairs:\n\nQ1: What is a starter?\nA1: Flour and water with wild "
        "yeasts.\nQ2: How fast does it rise?\nA2: It doubles in four to eight hours.\n",
        TWO_PAIRS,
        id="q1-a1-with-chatter-before",
    ),
    pytest.param(
        "1. Question: What is a starter?\n   Answer: Flour and water with wild yeasts.\n"
        "2. Question: How fast does it rise?\n   Answer: It doubles in four to eight hours.",
        TWO_PAIRS,
        id="numbered-list",
    ),
    pytest.param(
        "**Question 1:** What is a starter?\n**Answer 1:** Flour and water with wild yeasts.\n\n"
        "**Question 2**: How fast does it rise?\n**Answer 2**: It doubles in four to eight hours.",
        TWO_PAIRS,
        id="bold-labels",
    ),
    pytest.param(
        "**1. Question:** What is a starter?\n**Answer:** Flour and water with wild yeasts.\n"
        "**2. Question:** How fast does it rise?\n**Answer:** It doubles in four to eight hours.",
        TWO_PAIRS,
        id="bold-numbered",
    ),
    pytest.param(
        "### Question 1\nWhat is a starter?\n### Answer 1\nFlour and water with wild yeasts.\n\n"
        "### Question 2\nHow fast does it rise?\n### Answer 2\nIt doubles in four to eight hours.",
        TWO_PAIRS,
        id="heading-labels-text-below",
    ),
    pytest.param(
        "question 1: What is a starter?\nanswer 1: Flour and water with wild yeasts.   \n"
        "QUESTION 2: How fast does it rise?\nANSWER 2: It doubles in four to eight hours.\t\n",
        TWO_PAIRS,
        id="mixed-case-trailing-space",
    ),
    pytest.param(
        "Q1. What is a starter?\nA1. Flour and water with wild yeasts.\n"
        "Q2) How fast does it rise?\nA2) It doubles in four to eight hours.",
        TWO_PAIRS,
        id="q1-dot-and-paren",
    ),
    pytest.param(
        "```\nQuestion 1: What is a starter?\nAnswer 1: Flour and water with wild yeasts.\n"
        "Question 2: How fast does it rise?\nAnswer 2: It doubles in four to eight hours.\n```",
        TWO_PAIRS,
        id="code-fence",
    ),
    pytest.param(
        "Question 1: What is a starter? Answer 1: Flour and water with wild yeasts.\n"
        "Question 2: How fast does it rise? Answer 2: It doubles in four to eight hours.",
        TWO_PAIRS,
        id="answer-on-question-line",
    ),
    pytest.param(
        "Question 1: What is a starter?\nAnswer 1: Flour and water with wild yeasts.\n\n"
        "Question 2: How fast does it rise?\nAnswer 2: It doubles in four to eight hours.\n\n"
        "These questions cover the main facts of the text. Let me know if you want more!",
        TWO_PAIRS,
        id="chatter-after-blank-line-ignored",
    ),
    pytest.param(
        "Question 1: What is a starter?\nAnswer 3: Flour and water with wild yeasts.\n"
        "Question 7: How fast does it rise?\nAnswer 2: It doubles in four to eight hours.",
        TWO_PAIRS,
        id="numbers-not-checked",
    ),
    pytest.param(
        "Question 1: **What is a starter?**\nAnswer 1: **Flour and water with wild yeasts.**",
        TWO_PAIRS[:1],
        id="bold-values",
    ),
    pytest.param(
        "Question 1: Which bee is this?\nAnswer 1: *Apis mellifera*, the western honey bee.",
        [("Which bee is this?", "*Apis mellifera*, the western honey bee.")],
        id="italic-value-kept",
    ),
    pytest.param(
        "Question 1: How is the hive cooled?\nAnswer 1: In two ways:\n- fanning at the entrance\n"
        "- spreading water on the comb\n\nQuestion 2: Why?\nAnswer 2: Evaporation cools it.",
        [
            (
                "How is the hive cooled?",
                "In two ways:\n- fanning at the entrance\n- spreading water on the comb",
            ),
            ("Why?", "Evaporation cools it."),
        ],
        id="multi-line-answer",
    ),
    pytest.param(
        "Question 1:\nWhat is a starter?\nAnswer 1:\n\nFlour and water with wild yeasts.",
        TWO_PAIRS[:1],
        id="values-on-next-lines",
    ),
    pytest.param(
        "Question 1: What does the label 'A: 2' on a hive mean?\nAnswer 1: Apiary two.",
        [("What does the label 'A: 2' on a hive mean?", "Apiary two.")],
        id="label-like-text-inside-value",
    ),
    pytest.param(
        "Question 1: What is a starter?\nAnswer 1: Flour and water.\nA bee is not involved.",
        [("What is a starter?", "Flour and water.\nA bee is not involved.")],
        id="line-starting-with-a-is-text",
    ),
]


@pytest.mark.parametrize(("reply", "pairs"), QA_REPLIES)
def test_parse_qa_pairs(reply: str, pairs: list[tuple[str, str]]) -> None:
    assert parse_qa_pairs(reply) == pairs


BAD_QA_REPLIES = [
    pytest.param("", "no 'Question 1:' / 'Answer 1:' pairs", id="empty"),
    pytest.param("I could not find anything to ask.", "no 'Question 1:'", id="chatter-only"),
    pytest.param(
        "Question 1: What is a starter?\nQuestion 2: How fast does it rise?\nAnswer 2: It doubles.",
        "question has no answer: 'Question 1: What is a starter\\?'",
        id="question-without-answer",
    ),
    pytest.param(
        "Question 1: What is a starter?\nAnswer 1: Flour and water.\n\nQuestion 2: And then?",
        "question has no answer: 'Question 2: And then\\?'",
        id="last-answer-missing",
    ),
    pytest.param(
        "Answer 1: Flour and water.\nQuestion 1: What is a starter?",
        "answer without a question",
        id="answer-first",
    ),
    pytest.param(
        "Question 1: What is a starter?\nAnswer 1:\n\nQuestion 2: Why?\nAnswer 2: So.",
        "answer 1 is empty",
        id="empty-answer",
    ),
    pytest.param("Question 1:\nAnswer 1: Flour.", "question 1 is empty", id="empty-question"),
]


@pytest.mark.parametrize(("reply", "message"), BAD_QA_REPLIES)
def test_parse_qa_pairs_rejects(reply: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_qa_pairs(reply)


ROUND_TRIP_LISTS = [
    pytest.param(TWO_PAIRS, id="two-pairs"),
    pytest.param([("Why do bees fan?", "To cool the hive.")], id="one-pair"),
    pytest.param(
        [
            ("What are the steps?", "Fold the sheets.\nPierce the folds.\nSew the sections."),
            ("Which way is the grain?", "It runs along the easier bend: test both ways."),
            ("Is it 'Q1: x' or {braces}?", 'Both "quotes" and $dollars stay.'),
        ],
        id="multi-line-and-odd-characters",
    ),
]


@pytest.mark.parametrize("pairs", ROUND_TRIP_LISTS)
def test_format_qa_list_round_trips(pairs: list[tuple[str, str]]) -> None:
    assert parse_qa_pairs(format_qa_list(pairs)) == pairs


def test_format_qa_list_layout() -> None:
    assert format_qa_list(TWO_PAIRS) == (
        "Question 1: What is a starter?\nAnswer 1: Flour and water with wild yeasts.\n\n"
        "Question 2: How fast does it rise?\nAnswer 2: It doubles in four to eight hours."
    )
    assert format_qa_list([]) == ""


# ---------------------------------------------------------------- parse_single_qa

SINGLE_QA = [
    pytest.param(
        "Question: How do periwinkles seal their shells?\nAnswer: With an operculum.",
        ("How do periwinkles seal their shells?", "With an operculum."),
        id="plain",
    ),
    pytest.param(
        "Here is a new pair.\n\n**Question:** Why?\n**Answer:** Because.\n\nHope it helps.",
        ("Why?", "Because."),
        id="bold-with-chatter",
    ),
    pytest.param("Question 1: Why?\nAnswer 1: Because.", ("Why?", "Because."), id="numbered"),
    pytest.param(
        "Q: Why?\nA: Because.\nQ: Another?\nA: Yes.", ("Why?", "Because."), id="first-of-several"
    ),
]


@pytest.mark.parametrize(("reply", "pair"), SINGLE_QA)
def test_parse_single_qa(reply: str, pair: tuple[str, str]) -> None:
    assert parse_single_qa(reply) == pair


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param("Question: Why do bees fan their wings?", id="no-answer"),
        pytest.param("How about: why do bees fan?", id="no-labels"),
    ],
)
def test_parse_single_qa_rejects(reply: str) -> None:
    with pytest.raises(ParseError):
        parse_single_qa(reply)


# ---------------------------------------------------------------- parse_repair

REPAIRS = [
    pytest.param("Neither mentions the text.\nVerdict: pass", RepairOutcome("pass"), id="pass"),
    pytest.param(
        "It asks about the author's wording.\n**Verdict:** FAIL", RepairOutcome("fail"), id="fail"
    ),
    pytest.param(
        'The question says "according to the passage".\nVerdict: reworded\n'
        "Question: Why must folds follow the grain?\nAnswer: A fold against the grain cracks.",
        RepairOutcome(
            "reworded", "Why must folds follow the grain?", "A fold against the grain cracks."
        ),
        id="reworded",
    ),
    pytest.param(
        "The original was:\nQuestion: According to the text, why?\nAnswer: The text says so.\n"
        "\n**Verdict: Reworded**\n\n**Question:** Why must folds follow the grain?\n"
        "**Answer:** A fold against the grain cracks.\n",
        RepairOutcome(
            "reworded", "Why must folds follow the grain?", "A fold against the grain cracks."
        ),
        id="original-quoted-before-verdict",
    ),
    pytest.param(
        "Leans on the book.\nVerdict: rewritten\nQ: Why fold with the grain?\nA: It avoids cracks.",
        RepairOutcome("reworded", "Why fold with the grain?", "It avoids cracks."),
        id="rewritten-synonym",
    ),
    pytest.param(
        "Verdict: reworded\nQuestion: Why?\nAnswer: Because.\n\nOn second thought it was fine.\n"
        "Verdict: pass",
        RepairOutcome("pass"),
        id="last-verdict-wins",
    ),
]


@pytest.mark.parametrize(("reply", "outcome"), REPAIRS)
def test_parse_repair(reply: str, outcome: RepairOutcome) -> None:
    assert parse_repair(reply) == outcome


BAD_REPAIRS = [
    pytest.param("It mentions the passage.", "no 'Verdict: pass'", id="no-verdict"),
    pytest.param(
        "It mentions the passage.\nVerdict: reworded",
        "verdict is 'reworded' but no new pair follows",
        id="reworded-without-pair",
    ),
    pytest.param(
        "Question: Why fold with the grain?\nAnswer: It avoids cracks.\nVerdict: reworded",
        "verdict is 'reworded' but no new pair follows",
        id="pair-before-verdict",
    ),
    pytest.param(
        "Verdict: reworded\nQuestion: Why fold with the grain?",
        "question has no answer",
        id="reworded-question-only",
    ),
]


@pytest.mark.parametrize(("reply", "message"), BAD_REPAIRS)
def test_parse_repair_rejects(reply: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_repair(reply)


# ---------------------------------------------------------------- parse_character_card

CARD = (
    "Name: Margaret Hale\nTraits: patient and calm, always drinking tea\n"
    "Background: Head keeper at Greystone Point for thirty years.\nSpeech: Slow and plain."
)
CARDS = [
    pytest.param(CARD, CARD, "Margaret Hale", id="documented-layout"),
    pytest.param(
        "Here is the character card:\n\n" + CARD + "\n\nI hope this character works well!",
        CARD,
        "Margaret Hale",
        id="chatter-around",
    ),
    pytest.param(
        "**Name:** Dr. Ada Finch, a retired keeper.\n**Traits:** calm\n**Speech:** plain",
        "**Name:** Dr. Ada Finch, a retired keeper.\n**Traits:** calm\n**Speech:** plain",
        "Dr. Ada Finch",
        id="bold-with-description",
    ),
    pytest.param(
        "```\nname: margaret hale.\n\nBackground: A keeper.\nShe has two dogs.\n```",
        "name: margaret hale.\n\nBackground: A keeper.\nShe has two dogs.",
        "margaret hale",
        id="fenced-lowercase-continuation",
    ),
    pytest.param(
        "Character name: Tomas Berg\nPersonality: cheerful",
        "Character name: Tomas Berg\nPersonality: cheerful",
        "Tomas Berg",
        id="character-name-other-field",
    ),
]


@pytest.mark.parametrize(("reply", "card", "name"), CARDS)
def test_parse_character_card(reply: str, card: str, name: str) -> None:
    assert parse_character_card(reply) == (card, name)


BAD_CARDS = [
    pytest.param("Margaret Hale is a patient keeper.", "no 'Name:' line", id="no-name"),
    pytest.param("Name: Margaret Hale", "no 'Traits:', 'Background:'", id="name-only"),
    pytest.param(
        "Name: Margaret Hale\nShe is patient and calm.", "no 'Traits:'", id="no-other-field"
    ),
    pytest.param("Name: **\nTraits: calm", "no usable name", id="empty-name"),
    pytest.param(
        "Name: the keeper of the old lighthouse on the point who never sleeps\nTraits: calm",
        "no usable name",
        id="sentence-not-a-name",
    ),
]


@pytest.mark.parametrize(("reply", "message"), BAD_CARDS)
def test_parse_character_card_rejects(reply: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_character_card(reply)


# ---------------------------------------------------------------- parse_scenario

SCENE = "On a grey morning Margaret shows Samuel the lamp room."
SCENARIOS = [
    pytest.param(f"Secondary character: Samuel Price\nScenario: {SCENE}", id="documented"),
    pytest.param(f"**Secondary character:** Samuel Price\n**Scenario:** {SCENE}", id="bold"),
    pytest.param(f"Scenario: {SCENE}\nSecondary character: Samuel Price", id="reversed-order"),
    pytest.param(
        f"Secondary Character Name: Samuel Price, a new assistant keeper.\n\nScenario:\n{SCENE}",
        id="name-with-description-scene-below",
    ),
    pytest.param(
        "Here you go!\n```\nsecondary character: Samuel Price\n"
        "scenario: On a grey morning Margaret\nshows Samuel the lamp room.\n```\n\nEnjoy!",
        id="fenced-wrapped-paragraph-chatter",
    ),
]


@pytest.mark.parametrize("reply", SCENARIOS)
def test_parse_scenario(reply: str) -> None:
    assert parse_scenario(reply) == ("Samuel Price", SCENE)


BAD_SCENARIOS = [
    pytest.param(f"Scenario: {SCENE}", "no 'Secondary character:' line", id="no-name"),
    pytest.param("Secondary character: Samuel Price", "no 'Scenario:' line", id="no-scenario"),
    pytest.param(
        "Secondary character: Samuel Price\nScenario:", "'Scenario:' paragraph is empty", id="empty"
    ),
    pytest.param(f"Secondary character:\nScenario: {SCENE}", "no usable", id="empty-name"),
]


@pytest.mark.parametrize(("reply", "message"), BAD_SCENARIOS)
def test_parse_scenario_rejects(reply: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_scenario(reply)


# ---------------------------------------------------------------- parse_conversation

USER, AI = "User", "AI Assistant"
ASSISTANT_TURNS = [
    (USER, "How do bees keep warm?"),
    (AI, "They cluster and shiver."),
    (USER, "And in summer?"),
    (AI, "They fan their wings."),
]
CONVERSATIONS = [
    pytest.param(
        "User: How do bees keep warm?\nAI Assistant: They cluster and shiver.\n"
        "User: And in summer?\nAI Assistant: They fan their wings.",
        ASSISTANT_TURNS,
        id="documented",
    ),
    pytest.param(
        "Here is the conversation:\n\n**User:** How do bees keep warm?\n\n"
        "**AI Assistant:** They cluster and shiver.\n\n**User**: And in summer?\n\n"
        "**AI Assistant**: They fan their wings.\n",
        ASSISTANT_TURNS,
        id="bold-both-styles-chatter-before",
    ),
    pytest.param(
        "user: How do bees keep warm?\nAssistant: They cluster and shiver.\n"
        "USER: And in summer?\nai assistant:   They fan their wings.   ",
        ASSISTANT_TURNS,
        id="case-and-short-label",
    ),
    pytest.param(
        "```\nUser: How do bees keep warm?\n---\nAI Assistant: They cluster and shiver.\n```\n"
        "User: And in summer?\nAI Assistant: They fan their wings.",
        ASSISTANT_TURNS,
        id="fence-and-rule-dropped",
    ),
    pytest.param(
        "User: How do bees keep warm?\n\nAI Assistant: They cluster and shiver.\n\n"
        "User: And in summer?\n\nAI Assistant: They fan their wings.",
        ASSISTANT_TURNS,
        id="raw-text-layout-of-conversations-module",
    ),
]


@pytest.mark.parametrize(("reply", "turns"), CONVERSATIONS)
def test_parse_conversation_assistant(reply: str, turns: list[tuple[str, str]]) -> None:
    assert parse_conversation(reply, USER, AI) == turns


EXPERT, ASKER = "Dr. Margaret Hale", "Samuel Price"
CHARACTER_REPLIES = [
    pytest.param(
        "Samuel Price: Why clean the lens daily?\nDr. Margaret Hale: Soot dulls it overnight.",
        [(ASKER, "Why clean the lens daily?"), (EXPERT, "Soot dulls it overnight.")],
        id="full-names",
    ),
    pytest.param(
        "Samuel: Why clean the lens daily?\nMargaret: *sips her tea* Soot dulls it overnight.\n"
        "Note: a dirty lens halves the range.\n\nThat is the first rule.",
        [
            (ASKER, "Why clean the lens daily?"),
            (
                EXPERT,
                "*sips her tea* Soot dulls it overnight.\nNote: a dirty lens halves the range.\n\n"
                "That is the first rule.",
            ),
        ],
        id="first-names-continuation-lines",
    ),
    pytest.param(
        "- **Samuel Price (curious):** Why clean the lens daily?\n"
        "- **Hale:** Soot dulls it overnight.",
        [(ASKER, "Why clean the lens daily?"), (EXPERT, "Soot dulls it overnight.")],
        id="bullets-parenthetical-surname",
    ),
    pytest.param(
        "Samuel Price:\nWhy clean the lens daily?\nDr. Hale:\nSoot dulls it overnight.",
        [(ASKER, "Why clean the lens daily?"), (EXPERT, "Soot dulls it overnight.")],
        id="text-on-next-line-title-and-surname",
    ),
]


@pytest.mark.parametrize(("reply", "turns"), CHARACTER_REPLIES)
def test_parse_conversation_characters(reply: str, turns: list[tuple[str, str]]) -> None:
    assert parse_conversation(reply, ASKER, EXPERT) == turns


BAD_CONVERSATIONS = [
    pytest.param("", USER, AI, "no line starts with 'User:'", id="empty"),
    pytest.param(
        "Human: Hi?\nBot: Hello.", USER, AI, "no line starts with 'User:'", id="wrong-labels"
    ),
    pytest.param(
        "AI Assistant: Hello! Ask me anything.\nUser: How do bees keep warm?",
        USER,
        AI,
        "turn 1 should be User's but is AI Assistant's",
        id="answerer-first",
    ),
    pytest.param(
        "User: How do bees keep warm?\nUser: And in summer?\nAI Assistant: They fan.",
        USER,
        AI,
        "turn 2 should be AI Assistant's but is User's: 'User: And in summer\\?'",
        id="asker-twice",
    ),
    pytest.param(
        "User: How do bees keep warm?\nAI Assistant:\nUser: And in summer?",
        USER,
        AI,
        r"turn 2 \(AI Assistant\) is empty",
        id="empty-turn",
    ),
    pytest.param(
        "Tom: Hi?\nTom: Hello.", "Tom Reed", "Tom Baker", "no line starts", id="ambiguous-label"
    ),
    pytest.param("Ann: Hi?\nAnn: Hello.", "Ann", "ann", "both speakers", id="same-names"),
]


@pytest.mark.parametrize(("reply", "asker", "answerer", "message"), BAD_CONVERSATIONS)
def test_parse_conversation_rejects(reply: str, asker: str, answerer: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_conversation(reply, asker, answerer)


def test_parse_conversation_reads_the_raw_text_it_is_stored_as() -> None:
    turns = [(ASKER, "Why clean it?\nEvery day?"), (EXPERT, "Soot.\n\nIt dulls the glass.")]
    raw = "\n\n".join(f"{speaker}: {text}" for speaker, text in turns)
    assert parse_conversation(raw, ASKER, EXPERT) == turns


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        # replies SmolLM2-135M really wrote to judge_chunk (no verdict line)
        ("The text is not suitable for study questions. It contains technical terms.", False),
        ("The text is suitable for study questions. It explains how to start a fire.", True),
        ("This passage is unsuitable: only a list of pages.", False),
    ],
)
def test_judgement_from_an_opening_sentence(reply: str, expected: bool) -> None:
    assert parse_judgement(reply) is expected


def test_judgement_without_any_statement_still_fails() -> None:
    with pytest.raises(ParseError):
        parse_judgement("It contains technical terms and a list of pages.")
