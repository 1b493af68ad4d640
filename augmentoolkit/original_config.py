"""The original Augmentoolkit's config keys, read as this version's: a pass over the raw YAML
before the schema check (config.py), so a v1 config.yaml loads as it is.

Each difference becomes one notice line (shown at start-up and by --check), or a problem when
two settings disagree:

- API.QUANTIZATION_SMALL: APHRODITE.QUANTIZATION (the one model every step runs on there);
- API.QUANTIZATION_LARGE: no effect (MODE aphrodite loads one model here), said so;
- SYSTEM.MODE llamacpp (an earlier name): api, whose embedded model is llama.cpp;
- SYSTEM.USE_FILE_NAMES (an earlier name): SYSTEM.USE_FILENAMES;
- MODE aphrodite with no APHRODITE section: APHRODITE.MODEL is API.LOGICAL_MODEL;
- a key of ours under another section (SYSTEM.BASE_URL): read in its own section;
- a quoted boolean ("False"): the boolean.

Unknown keys that are none of these stay errors; `unknown_key_hint` names the nearest key.
Does not read files or check values beyond these.
"""

from __future__ import annotations

import difflib
from typing import Any

Schema = dict[str, dict[str, tuple[type, Any, Any]]]
Raw = dict[str, Any]
RENAMED = {("SYSTEM", "USE_FILE_NAMES"): ("SYSTEM", "USE_FILENAMES")}  # earlier names of ours
QUANTIZATION_KEYS = ("QUANTIZATION_SMALL", "QUANTIZATION_LARGE")  # API, the original's only
OLD_MODES = {"llamacpp": "api"}
BOOLEAN_WORDS = {"true": True, "false": False}


def unknown_key_hint(key: str, known: list[str], kind: str = "key") -> str:
    """The fix for an unknown key (or section): the nearest known one, else the whole list.
    Example: ('CONCURENCY_LIMIT', [..., 'CONCURRENCY_LIMIT']) -> 'Did you mean CONCURRENCY_LIMIT?
    Fix the spelling, or remove the key.'"""
    nearest = difflib.get_close_matches(key.upper(), known, n=1, cutoff=0.75)
    if nearest:
        return f"Did you mean {nearest[0]}? Fix the spelling, or remove the {kind}."
    return f"Remove it or use one of: {', '.join(known)}."


def adopt_original_keys(raw: Raw, schema: Schema, problems: list[str]) -> tuple[Raw, list[str]]:
    """`raw` with the original's keys and forms read as ours, and one notice per change made.
    Conflicting settings are added to `problems`. The input mapping is not changed."""
    data = {name: dict(keys) if isinstance(keys, dict) else keys for name, keys in raw.items()}
    notices: list[str] = []
    _rename_keys(data, notices, problems)
    _move_keys(data, schema, notices, problems)
    _old_mode(data, notices)
    _quantization(data, notices, problems)
    _aphrodite_model(raw, data, notices)
    _quoted_booleans(data, schema, notices)
    return data, notices


def _section(data: Raw, name: str) -> dict[str, Any]:
    """The section as a mapping (a missing or malformed one reads as empty here)."""
    section = data.get(name)
    return section if isinstance(section, dict) else {}


def _rename_keys(data: Raw, notices: list[str], problems: list[str]) -> None:
    for (section, old), (_, new) in RENAMED.items():
        keys = _section(data, section)
        if old not in keys:
            continue
        value = keys.pop(old)
        if new in keys:
            if keys[new] != value:
                problems.append(
                    f"{section}.{old}: an earlier name of {section}.{new}, which is also given, "
                    f"with another value. Keep only {new}."
                )
            continue
        keys[new] = value
        notices.append(f"{section}.{old} (an earlier name) is read as {section}.{new}; rename it.")


def _move_keys(data: Raw, schema: Schema, notices: list[str], problems: list[str]) -> None:
    """A key of ours given under another of our sections is read in its own (if only one has
    it). Keys of an unknown section stay there: the section is reported as a typo."""
    for section in [name for name in data if name in schema]:
        given = _section(data, section)
        for key in list(given):
            if key in schema[section]:
                continue
            homes = [name for name, keys in schema.items() if key in keys and name != section]
            if len(homes) != 1:
                continue
            home = data.setdefault(homes[0], {})
            if not isinstance(home, dict):
                continue
            value = given.pop(key)
            if key in home:
                problems.append(
                    f"{section}.{key}: also given as {homes[0]}.{key}, its section here. Keep "
                    f"only {homes[0]}.{key}."
                )
                continue
            home[key] = value
            notices.append(f"{section}.{key} is read as {homes[0]}.{key}; move it there.")


def _old_mode(data: Raw, notices: list[str]) -> None:
    system = _section(data, "SYSTEM")
    mode = system.get("MODE")
    if isinstance(mode, str) and mode.strip().lower() in OLD_MODES:
        system["MODE"] = OLD_MODES[mode.strip().lower()]
        notices.append(
            f"SYSTEM.MODE: {mode} (an earlier version's in-process llama.cpp) is read as api: "
            "requests go to API.BASE_URL, whose default, embedded, is a llama.cpp server the "
            "run starts (or give your llama-server's URL, e.g. http://127.0.0.1:8080/v1)."
        )


def _quantization(data: Raw, notices: list[str], problems: list[str]) -> None:
    api = _section(data, "API")
    if not any(key in api for key in QUANTIZATION_KEYS):
        return
    aphrodite = _section(data, "SYSTEM").get("MODE") == "aphrodite"
    if "QUANTIZATION_SMALL" in api:
        small = api.pop("QUANTIZATION_SMALL")
        _small_quantization(data, "" if small is None else small, aphrodite, notices, problems)
    if "QUANTIZATION_LARGE" in api:
        large = api.pop("QUANTIZATION_LARGE")
        notices.append(
            f"API.QUANTIZATION_LARGE: {large!r} has no effect: MODE aphrodite here loads one "
            "model (APHRODITE.MODEL, quantized per APHRODITE.QUANTIZATION) for every step, "
            "conversation writing included, where the original loaded LARGE_LOGICAL_MODEL in "
            "a second script. For a larger writer, serve it and use MODE api."
        )


def _small_quantization(
    data: Raw, value: Any, aphrodite: bool, notices: list[str], problems: list[str]
) -> None:
    target = data.setdefault("APHRODITE", {})
    if not isinstance(target, dict):
        return  # the malformed section is reported by the schema check
    ours = target.get("QUANTIZATION")
    if value not in ("", ours) and ours not in (None, ""):
        problems.append(
            f"API.QUANTIZATION_SMALL: {value!r} differs from APHRODITE.QUANTIZATION {ours!r}. "
            "Keep one of them (APHRODITE.QUANTIZATION is this version's key)."
        )
        return
    if value == "":
        notices.append("API.QUANTIZATION_SMALL: empty, so it changes nothing here.")
        return
    target["QUANTIZATION"] = value
    effect = "" if aphrodite else "; like the original, it has no effect in MODE api"
    notices.append(
        f"API.QUANTIZATION_SMALL: {value!r} is read as APHRODITE.QUANTIZATION, the "
        f"quantization of the one model MODE aphrodite runs for every step{effect}."
    )


def _aphrodite_model(raw: Raw, data: Raw, notices: list[str]) -> None:
    """The original's aphrodite mode loaded API.LOGICAL_MODEL (then LARGE_LOGICAL_MODEL in a
    second script); with no APHRODITE section, one model is that LOGICAL_MODEL here."""
    api = _section(data, "API")
    model = api.get("LOGICAL_MODEL")
    if _section(data, "SYSTEM").get("MODE") != "aphrodite" or "APHRODITE" in raw:
        return
    if not isinstance(model, str) or not model.strip():
        return
    target = data.setdefault("APHRODITE", {})
    if isinstance(target, dict) and not target.get("MODEL"):
        target["MODEL"] = model
        notices.append(
            f"APHRODITE.MODEL: not given, so MODE aphrodite runs API.LOGICAL_MODEL {model!r} "
            "for every step, conversation writing included (the original ran "
            "LARGE_LOGICAL_MODEL for that in a second script). Set APHRODITE.MODEL to choose."
        )


def _quoted_booleans(data: Raw, schema: Schema, notices: list[str]) -> None:
    for section, keys in schema.items():
        given = _section(data, section)
        for key, (kind, _, _) in keys.items():
            value = given.get(key)
            if kind is bool and isinstance(value, str):
                word = BOOLEAN_WORDS.get(value.strip().lower())
                if word is not None:
                    given[key] = word
                    notices.append(
                        f"{section}.{key}: the text {value!r} is read as {word}; write it "
                        "without quotes."
                    )
