"""Language-aware tokenisation for n-gram rewards.

CJK ideographs, kana and Hangul syllables become one token per character (Chinese and Japanese are written
without spaces); other scripts are split into words (Unicode ``\\w+`` runs) and punctuation marks. Text is
NFKC-normalised and lower-cased first.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["tokenize", "ngrams", "is_cjk_text", "has_kana", "words", "is_blank"]

_CJK = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf"  # CJK ext A
    "\u4e00-\u9fff"  # CJK unified
    "\uac00-\ud7af"  # Hangul syllables
    "\uf900-\ufaff"  # compatibility ideographs
)
_TOKEN_RE = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[^\w\s]", re.UNICODE)
_CJK_RE = re.compile(rf"[{_CJK}]")
_SPACE_RE = re.compile(r"\s")
_KANA_RE = re.compile("[\u3040-\u30ff]")
_WORD_RE = re.compile(r"\w", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Split ``text`` into tokens for n-gram statistics.

    Examples:
        >>> tokenize("The cat, the HAT.")
        ['the', 'cat', ',', 'the', 'hat', '.']
        >>> tokenize("我爱猫 ok")
        ['我', '爱', '猫', 'ok']
    """
    return _TOKEN_RE.findall(unicodedata.normalize("NFKC", text).lower())


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    """All contiguous n-grams of ``tokens`` (empty when ``len(tokens) < n``)."""
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def is_cjk_text(text: str) -> bool:
    """True when at least a third of the non-space characters are CJK (used to pick sacrebleu's ``zh`` tokenizer)."""
    visible = len(text) - len(_SPACE_RE.findall(text))
    return visible > 0 and len(_CJK_RE.findall(text)) * 3 >= visible


def has_kana(text: str) -> bool:
    """True when ``text`` holds hiragana or katakana (Japanese)."""
    return bool(_KANA_RE.search(text))


def words(text: str) -> list[str]:
    """The word tokens of ``text`` (:func:`tokenize` without punctuation; each CJK character counts as a word)."""
    return [t for t in tokenize(text) if _WORD_RE.search(t)]


def is_blank(text: str) -> bool:
    """True for a string with no visible character: empty, or only whitespace (spaces, tabs, newlines, form
    feeds, ideographic spaces...) and invisible format characters (zero-width space, BOM, ...)."""
    return all(c.isspace() or unicodedata.category(c) == "Cf" for c in text)
