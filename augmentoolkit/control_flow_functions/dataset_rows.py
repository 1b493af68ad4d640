"""One conversation or QA pair as a row of each dataset format (no I/O).

Conversations: master_row (everything), sharegpt_row (`conversations` of from/value),
openai_row (`messages` of role/content: the conversational format TRL's SFTTrainer and
axolotl's `chat_template` type read), chatml_row (`text`: the messages laid out in ChatML,
`<|im_start|>role\\ncontent<|im_end|>\\n` each, for trainers that take plain text).
Pairs: qa_row (flat, with the source) and alpaca_row (`instruction`/`input`/`output`, one row
per pair, `input` empty: the pair's question answered from the model's own knowledge).
"""

from __future__ import annotations

from typing import Any

from augmentoolkit.records import Conversation, QAPair

ASSISTANT_SYSTEM_PROMPT = (
    "You are a helpful AI assistant. Answer the user's questions accurately and in detail."
)
OPENAI_ROLES = {"system": "system", "human": "user", "gpt": "assistant"}


def system_prompt(conversation: Conversation) -> str:
    plan = conversation.plan
    if plan.assistant_mode:
        return ASSISTANT_SYSTEM_PROMPT
    return (
        f"{plan.character_card.strip()}\n\nScenario: {plan.scenario.strip()}\n\n"
        f"You are {plan.primary_name}. Stay in character and answer {plan.secondary_name}."
    )


def master_row(conversation: Conversation) -> dict[str, Any]:
    plan = conversation.plan
    return {
        "id": plan.id,
        "conversation": conversation.raw_text,
        "character_card": plan.character_card,
        "scenario": plan.scenario,
        "scenario_plan": plan.scenario_plan,
        "card_plan": plan.card_plan,
        "traits": list(plan.traits),
        "assistant_mode": plan.assistant_mode,
        "qa_pairs": [
            {
                "question": pair.question,
                "answer": pair.answer,
                "source_file": pair.chunk.source.filename,
                "source": pair.chunk.source.describe(),
                "chunk_id": pair.chunk.id,
                "chunk": pair.chunk.text,
            }
            for pair in plan.pairs
        ],
    }


def sharegpt_row(conversation: Conversation) -> dict[str, Any]:
    turns = [{"from": "system", "value": system_prompt(conversation)}]
    turns += [{"from": turn.role, "value": turn.text} for turn in conversation.turns]
    return {"conversations": turns}


def openai_row(conversation: Conversation) -> dict[str, Any]:
    turns = sharegpt_row(conversation)["conversations"]
    return {"messages": [{"role": OPENAI_ROLES[t["from"]], "content": t["value"]} for t in turns]}


def chatml_text(messages: list[dict[str, str]]) -> str:
    """Example: [{"role": "user", "content": "Hi"}] -> '<|im_start|>user\\nHi<|im_end|>\\n'."""
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)


def chatml_row(conversation: Conversation) -> dict[str, Any]:
    return {"text": chatml_text(openai_row(conversation)["messages"])}


def qa_row(pair: QAPair) -> dict[str, Any]:
    return {
        "question": pair.question,
        "answer": pair.answer,
        "source_file": pair.chunk.source.filename,
        "chunk_id": pair.chunk.id,
        "chunk_text": pair.chunk.text,
    }


def alpaca_row(pair: QAPair) -> dict[str, Any]:
    return {"instruction": pair.question, "input": "", "output": pair.answer}


def conversation_text(conversation: Conversation) -> str:
    """What near-duplicate detection compares: the turns' words, without system prompt or names
    (character cards differ between conversations on the same text)."""
    return "\n".join(turn.text for turn in conversation.turns)


def conversation_origin(conversation: Conversation) -> str:
    """The chunks a conversation comes from, as sorted ids on lines."""
    return "\n".join(sorted({pair.chunk.id for pair in conversation.plan.pairs}))
