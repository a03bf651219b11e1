"""Porter's stemmer as NLTK's ``PorterStemmer()`` runs it (its default ``NLTK_EXTENSIONS`` mode).

LoCoMo's ``evaluation.py`` stems every answer token with ``nltk.stem.PorterStemmer()`` before
F1, so a score comparable with published LoCoMo numbers needs the same stems. NLTK is a large
dependency for one function, and the plain Porter algorithm (Snowball's ``porter``) differs from
NLTK's default mode (irregular forms such as "dying" -> "die", "ies"/"ied" on four-letter words,
the y -> i rule, "alli", "fulli" and "logi" in step 2, no stemming of words of one or two
letters). So this is our own rendering of that mode, rule for rule (Porter 1980, "An algorithm
for suffix stripping", plus NLTK's documented extensions); tests/scoring/test_porter.py checks it
against stems NLTK 3.10 gives.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Optional

Rule = tuple[str, str, Optional[Callable[[str], bool]]]
_VOWELS = frozenset("aeiou")
# NLTK's table of irregular forms (whole words, looked up before any rule).
_IRREGULAR = {
    "sky": "sky", "skies": "sky", "dying": "die", "lying": "lie", "tying": "tie", "news": "news",
    "innings": "inning", "inning": "inning", "outings": "outing", "outing": "outing",
    "cannings": "canning", "canning": "canning", "howe": "howe", "proceed": "proceed",
    "exceed": "exceed", "succeed": "succeed",
}


# -- letters and measure ---------------------------------------------------------------------------
def _consonants(word: str) -> list[bool]:
    """Per letter, True for a consonant: not a vowel, and a 'y' only after a vowel or at the start."""
    flags: list[bool] = []
    for i, ch in enumerate(word):
        flags.append(False if ch in _VOWELS else (not flags[i - 1] if ch == "y" and i else True))
    return flags


def _is_consonant(word: str, i: int) -> bool:
    return _consonants(word)[i]


def _measure(stem: str) -> int:
    """Porter's m: the number of vowel-consonant sequences in ``[C](VC){m}[V]``."""
    return "".join("c" if c else "v" for c in _consonants(stem)).count("vc")


def _positive(stem: str) -> bool:
    return _measure(stem) > 0


def _over_one(stem: str) -> bool:
    return _measure(stem) > 1


def _has_vowel(stem: str) -> bool:
    return not all(_consonants(stem))


def _ends_double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _is_consonant(word, len(word) - 1)


def _ends_cvc(word: str) -> bool:
    """Porter's *o (consonant-vowel-consonant, the last not w, x or y), and NLTK's two-letter
    vowel-consonant case."""
    if len(word) >= 3:
        c = _consonants(word)
        if c[-3] and not c[-2] and c[-1] and word[-1] not in "wxy":
            return True
    return len(word) == 2 and not _is_consonant(word, 0) and _is_consonant(word, 1)


def _apply(word: str, rules: list[Rule]) -> str:
    """The first rule whose suffix matches decides: its replacement if its condition holds on the
    stem, else the word unchanged (later rules are not tried). ``*d`` matches a double consonant."""
    for suffix, replacement, condition in rules:
        if suffix == "*d" and _ends_double_consonant(word):
            stem = word[:-2]
            return stem + replacement if condition is None or condition(stem) else word
        if word.endswith(suffix):
            stem = word[: len(word) - len(suffix)]
            return stem + replacement if condition is None or condition(stem) else word
    return word


# -- the steps ---------------------------------------------------------------------------------------
def _step1a(word: str) -> str:
    if word.endswith("ies") and len(word) == 4:  # NLTK: "dies" -> "die", but "flies" -> "fli"
        return word[:-3] + "ie"
    return _apply(word, [("sses", "ss", None), ("ies", "i", None), ("ss", "ss", None), ("s", "", None)])


def _step1b(word: str) -> str:
    if word.endswith("ied"):  # NLTK: "died" -> "die", "spied" -> "spi"
        return word[:-3] + ("ie" if len(word) == 4 else "i")
    if word.endswith("eed"):
        stem = word[:-3]
        return stem + "ee" if _measure(stem) > 0 else word
    for suffix in ("ed", "ing"):
        if word.endswith(suffix) and _has_vowel(word[: -len(suffix)]):
            stem = word[: -len(suffix)]
            break
    else:
        return word
    return _apply(stem, [
        ("at", "ate", None), ("bl", "ble", None), ("iz", "ize", None),
        ("*d", stem[-1], lambda _: stem[-1] not in "lsz"),  # hopp(ing) -> hop, but fall(ing) -> fall
        ("", "e", lambda s: _measure(s) == 1 and _ends_cvc(s)),  # fil(ing) -> file
    ])


def _step1c(word: str) -> str:
    # NLTK: y -> i only after a consonant that is not the whole stem ("happy" -> "happi", "enjoy" stays).
    return _apply(word, [("y", "i", lambda s: len(s) > 1 and _is_consonant(s, len(s) - 1))])


_STEP2 = [
    ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"), ("bli", "ble"),
    ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"), ("ization", "ize"), ("ation", "ate"),
    ("ator", "ate"), ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous"), ("aliti", "al"),
    ("iviti", "ive"), ("biliti", "ble"), ("fulli", "ful"),
]


def _step2(word: str) -> str:
    # NLTK applies ALLI -> AL first and, when it fires, runs step 2 again on the result.
    if word.endswith("alli") and _positive(word[:-4]):
        return _step2(word[:-4] + "al")
    rules: list[Rule] = [(suffix, rep, _positive) for suffix, rep in _STEP2]
    # "logi" -> "log" keeps the l in the stem measured, so "geologi" and "theologi" stem alike.
    rules.append(("logi", "log", lambda _: _positive(word[:-3])))
    return _apply(word, rules)


def _step3(word: str) -> str:
    return _apply(word, [("icate", "ic", _positive), ("ative", "", _positive), ("alize", "al", _positive),
                         ("iciti", "ic", _positive), ("ical", "ic", _positive), ("ful", "", _positive),
                         ("ness", "", _positive)])


_STEP4 = ["al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "ou", "ism",
          "ate", "iti", "ous", "ive", "ize"]


def _step4(word: str) -> str:
    ion = lambda s: _measure(s) > 1 and s[-1:] in ("s", "t")  # noqa: E731  (m>1 and (*S or *T)) ION
    return _apply(word, [(suffix, "", ion if suffix == "ion" else _over_one) for suffix in _STEP4])


def _step5a(word: str) -> str:
    # Both E rules are tried (the second one's condition may hold when the first's does not).
    if word.endswith("e"):
        stem = word[:-1]
        m = _measure(stem)
        if m > 1 or (m == 1 and not _ends_cvc(stem)):
            return stem
    return word


def _step5b(word: str) -> str:
    return _apply(word, [("ll", "l", lambda _: _measure(word[:-1]) > 1)])


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Porter stem of ``word`` (lowercased), as ``nltk.stem.PorterStemmer().stem(word)``."""
    low = word.lower()
    if low in _IRREGULAR:
        return _IRREGULAR[low]
    if len(word) <= 2:  # NLTK leaves words of one or two letters alone
        return low
    for step in (_step1a, _step1b, _step1c, _step2, _step3, _step4, _step5a, _step5b):
        low = step(low)
    return low
