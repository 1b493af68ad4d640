"""Words and content words in any script: the one definition the model-free checks share
(grounding.py: grounding and repeats; verification.py: answer turns carrying their answers).

- Words are runs of Unicode letters, digits and combining marks (so a Devanagari vowel sign
  stays inside its word), lower-cased. Apostrophes, hyphens and other punctuation end a word,
  as they always did for English: "What's" -> "what", "s"; French "l'eau" -> "l", "eau".
- Scripts written without spaces (Han, Kana, Thai, Lao, Khmer, Myanmar), and Hangul, whose
  words carry their particles, are compared by character bigrams, not words: "石桥建于" ->
  "石桥", "桥建", "建于". Chinese function characters ("的", "是", "什么" ...) and a few
  Japanese ones cut a run first, and Hiragana runs (Japanese particles and endings) are left
  out of content words.
- The language is guessed cheaply (`guess_language`): by script, and for Latin-script text by
  counting each language's function words (stopwords.py). English wins ties and is the
  default, so English text is handled exactly as before.
- Stems: English keeps the crude stem grounding has always used (`english_stem`); languages
  with a Snowball stemmer get it; any other language a 6-letter prefix.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import cache, lru_cache
from typing import Any

from augmentoolkit.control_flow_functions.stopwords import STOPWORDS

ENGLISH = "en"
STEM_LETTERS = 5
ENDINGS = ("ing", "ed", "es", "e", "s")
PREFIX_LETTERS = 6  # the stem of a word in a language without a stemmer here
SAMPLE_CHARS = 4000  # enough text to tell the language

SNOWBALL = {
    "de": "german", "fr": "french", "es": "spanish", "it": "italian", "pt": "portuguese",
    "nl": "dutch", "sv": "swedish", "pl": "polish", "ru": "russian", "sr": "serbian",
    "el": "greek", "ar": "arabic", "fa": "persian", "hi": "hindi", "hy": "armenian",
    "ta": "tamil",
}  # fmt: skip
LATIN_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "sv", "pl")  # ties: the first
HAN_SCRIPT = ("zh", "ja")  # both compared by the same character bigrams

HAN = "\u3005\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
HIRAGANA = "\u3041-\u309f"
KATAKANA = "\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9f"  # not "・" (30FB)
OTHER_DENSE = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
DENSE = HAN + HIRAGANA + KATAKANA + OTHER_DENSE

# Function units cut out of Han runs: multi-character ones first (the regex tries in order).
CHINESE_STOPS = (
    "为什么 什么 怎么 怎样 如何 多少 哪里 哪儿 哪个 哪些 这些 那些 这个 那个"
    " 一个 我们 你们 他们 她们 它们 因为 所以 但是 而且 或者 以及 如果 虽然"
    " 已经 可以 就是 还是 没有 大约 大概 左右"
    " 的 了 是 在 和 与 及 或 也 都 就 而 被 把 之 其 这 那 吗 呢 吧 啊 呀"
    " 很 又 还 并 它 他 她 我 约 你 谁 哪 几 着 个 么"
).split()
JAPANESE_STOPS = "何 誰 此 其 又 及 為 等".split()


def _marks() -> str:
    """Every combining mark of the Basic Multilingual Plane, as character-class ranges."""
    codes = [c for c in range(0x10000) if unicodedata.category(chr(c)) in ("Mn", "Mc", "Me")]
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


_TOKEN = re.compile(
    f"(?P<han>[{HAN}]+)|(?P<hiragana>[{HIRAGANA}]+)|(?P<katakana>[{KATAKANA}]+)"
    f"|(?P<dense>[{OTHER_DENSE}]+)|(?P<word>(?:(?![{DENSE}])[^\\W_]|[{_marks()}])+)"
)
_SCRIPT = re.compile(
    "(?P<latin>[A-Za-z\u00c0-\u024f]+)|(?P<cyrillic>[\u0400-\u04ff]+)"
    f"|(?P<han>[{HAN}]+)|(?P<kana>[{HIRAGANA}{KATAKANA}]+)"
    "|(?P<hangul>[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]+)|(?P<thai>[\u0e00-\u0eff]+)"
    "|(?P<greek>[\u0370-\u03ff\u1f00-\u1fff]+)|(?P<arabic>[\u0600-\u06ff\u0750-\u077f]+)"
    "|(?P<hebrew>[\u0590-\u05ff]+)|(?P<devanagari>[\u0900-\u097f]+)"
    "|(?P<armenian>[\u0530-\u058f]+)|(?P<tamil>[\u0b80-\u0bff]+)"
)
_SCRIPT_LANGUAGE = {
    "hangul": "ko", "thai": "th", "greek": "el", "hebrew": "he", "devanagari": "hi",
    "armenian": "hy", "tamil": "ta",
}  # fmt: skip
_DENSE_CHAR = re.compile(f"[{DENSE}]")


def _stop_pattern(units: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(sorted(units, key=len, reverse=True)))


_HAN_STOPS = {"zh": _stop_pattern(CHINESE_STOPS), "ja": _stop_pattern(JAPANESE_STOPS)}


def tokens(text: str) -> Iterator[tuple[str, str]]:
    """(kind, lower-cased run) in order; kind is word, han, hiragana, katakana or dense.
    Example: "L'eau 东京" -> ("word", "l"), ("word", "eau"), ("han", "东京")."""
    for match in _TOKEN.finditer(text.lower()):
        kind = match.lastgroup
        assert kind is not None
        yield kind, match.group()


def bigrams(run: str) -> list[str]:
    """Character bigrams of a run; a single character is its own unit. "石桥建" -> 石桥, 桥建."""
    return [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]


def is_dense(unit: str) -> bool:
    """True for a unit of a script without spaces (a bigram), False for a word."""
    return bool(_DENSE_CHAR.match(unit))


def content_words(text: str, language: str | None = None) -> list[str]:
    """Units that carry meaning, in order: words that are not the language's function words
    (3+ letters, or a number), and character bigrams of scripts without spaces.
    Examples: 'What is a hive?' -> ['hive']; '石桥是什么时候建造的' -> 石桥, 时候, 候建, 建造."""
    language = language or guess_language(text)
    stop = STOPWORDS.get(language, frozenset())
    found: list[str] = []
    for kind, run in tokens(text):
        if kind == "word":
            if run not in stop and (len(run) > 2 or run.isdigit()):
                found.append(run)
        elif kind == "han":
            cut = _HAN_STOPS["ja" if language == "ja" else "zh"].split(run)
            found += [unit for piece in cut if piece for unit in bigrams(piece)]
        elif kind != "hiragana":
            found += bigrams(run)
    return found


def english_stem(word: str) -> str:
    """Example: 'sabotage' and 'saboteur' -> 'sabot'; 'feeds' and 'feeding' -> 'feed'."""
    for ending in ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            word = word[: -len(ending)]
            break
    return word[:STEM_LETTERS]


@lru_cache(maxsize=65536)
def stem(word: str, language: str) -> str:
    """A content word's stem in its language; bigrams stay as they are.
    Examples: ('feeding', 'en') -> 'feed'; ('москве', 'ru') -> 'москв'."""
    if is_dense(word):
        return word
    if language == ENGLISH:
        return english_stem(word)
    if language in SNOWBALL:
        return _stemmer(SNOWBALL[language]).stemWord(word)
    return word[:PREFIX_LETTERS]


@cache
def _stemmer(algorithm: str) -> Any:  # snowballstemmer has no type hints
    import snowballstemmer  # on first use: it loads every language's stemmer, English needs none

    return snowballstemmer.stemmer(algorithm)


def stems(text: str, language: str | None = None) -> list[str]:
    """The stems of `content_words(text)`, in order."""
    language = language or guess_language(text)
    return [stem(word, language) for word in content_words(text, language)]


def vocabulary(text: str, language: str) -> set[str]:
    """What a text is made of, to look other texts' units up in: the stems of its content
    words, and every character and bigram of its runs without spaces (function characters
    included, so a bigram that straddles one in another text is still found)."""
    found = set(stems(text, language))
    for kind, run in tokens(text):
        if kind != "word":
            found.update(run)
            found.update(bigrams(run))
    return found


def coverage_words(text: str) -> set[str]:
    """Lower-cased words of 4+ letters or digits, and every character bigram of runs without
    spaces; no stems, no stopwords (the strict rule of verification.py).
    Example: 'Cut the fuses' -> {'fuses'}."""
    found: set[str] = set()
    for kind, run in tokens(text):
        if kind != "word":
            found.update(bigrams(run))
        elif len(run) >= 4:
            found.add(run)
    return found


@lru_cache(maxsize=1024)
def guess_language(text: str, default: str = ENGLISH) -> str:
    """A language code good enough to pick stopwords and a stemmer: the script, and for Latin
    and Cyrillic text the letters and function words. `default` when nothing tells.
    Examples: 'Der Fluss friert zu.' -> 'de'; '東京は大きい。' -> 'ja'; 'Velmar?' -> 'en'."""
    sample = text[:SAMPLE_CHARS]
    counts: dict[str, int] = {}
    for match in _SCRIPT.finditer(sample):
        kind = match.lastgroup
        assert kind is not None
        counts[kind] = counts.get(kind, 0) + len(match.group())
    if not counts:
        return default
    script = max(counts, key=lambda name: counts[name])
    if script in ("han", "kana"):
        kana, han = counts.get("kana", 0), counts.get("han", 0)
        return "ja" if kana * 20 > kana + han else "zh"
    if script == "latin":
        return _latin_language(sample, default)
    if script == "cyrillic":
        return "sr" if re.search("[ђћџљњј]", sample.lower()) else _cyrillic(sample)
    if script == "arabic":
        return "fa" if re.search("[پچژگ]", sample) else "ar"
    return _SCRIPT_LANGUAGE[script]


def _cyrillic(sample: str) -> str:
    return "uk" if re.search("[іїєґ]", sample.lower()) else "ru"


def _latin_language(sample: str, default: str) -> str:
    """The Latin-script language whose function words the sample uses most; `default` on a
    tie with it or when there are none, else the earlier in LATIN_LANGUAGES."""
    found = [run for kind, run in tokens(sample) if kind == "word"]
    scores = {code: sum(word in STOPWORDS[code] for word in found) for code in LATIN_LANGUAGES}
    best = max(scores.values())
    if best == 0 or scores.get(default) == best:
        return default
    return next(code for code in LATIN_LANGUAGES if scores[code] == best)


LANGUAGE_NAMES = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
    "pt": "Portuguese", "nl": "Dutch", "sv": "Swedish", "pl": "Polish", "ru": "Russian",
    "uk": "Ukrainian", "sr": "Serbian", "el": "Greek", "ar": "Arabic", "fa": "Persian",
    "he": "Hebrew", "hi": "Hindi", "hy": "Armenian", "ta": "Tamil", "th": "Thai",
    "ko": "Korean", "zh": "Chinese", "ja": "Japanese",
}  # fmt: skip


def same_language(first: str, second: str) -> bool:
    """Whether two texts' languages can be compared word for word (Chinese and Japanese share
    Han characters, compared by bigrams)."""
    return first == second or (first in HAN_SCRIPT and second in HAN_SCRIPT)
