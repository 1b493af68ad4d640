"""The language a dataset is written in: SYSTEM.OUTPUT_LANGUAGE, or else the source text's.

Steps that write dataset text (questions, answers, conversations, character cards, scenarios)
declare what they write (`GenerationStep.writes`); their rendered prompt then ends with one line
naming the language. Nothing is added for an English source text with OUTPUT_LANGUAGE empty, so
those prompts, and with them every stored call's cache key, stay exactly as they were. The
layout's labels ("Question 1:", "Verdict:", speaker names) stay English: the parsers read them.
"""

from __future__ import annotations

from augmentoolkit.control_flow_functions.words import ENGLISH, LANGUAGE_NAMES, guess_language

# The prompt value that shows the source text, in order of preference.
SOURCE_VALUES = ("chunk", "qa_list", "answer")


def language_note(writes: str, output_language: str, values: dict[str, str]) -> str:
    """The line that asks for `writes` in the dataset's language, or "" when none is needed.
    Examples: ('the conversation', '', {'qa_list': 'Q: Wo liegt ...'}) -> 'Write the
    conversation in German, the language of the text. ...'; an English text -> ''."""
    if not writes:
        return ""
    keep = 'Keep the labels of the layout ("Question 1:", "Verdict:", speaker names) as shown.'
    if output_language.strip():
        return f"Write {writes} in {output_language.strip()}. {keep}"
    source = next((values[name] for name in SOURCE_VALUES if values.get(name)), "")
    code = guess_language(source[:4000]) if source else ENGLISH
    if code == ENGLISH or code not in LANGUAGE_NAMES:
        return ""
    return f"Write {writes} in {LANGUAGE_NAMES[code]}, the language of the text. {keep}"
