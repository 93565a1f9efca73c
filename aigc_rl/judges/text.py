"""Pure-Python text statistics behind the judges and rewards: words, n-grams, prompt-copy rate, sentence end,
expectation-adjusted distinct-n (EAD).

Words are lower-cased runs of letters, digits and apostrophes (``[a-z0-9']+`` after lower-casing), so
punctuation and case do not hide a copy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = [
    "words",
    "ngrams",
    "copy_rate",
    "strip_prompt_ngrams",
    "copied_spans",
    "ends_sentence",
    "expected_distinct",
    "ead",
    "SMOLLM2_VOCAB_SIZE",
]

_WORD = re.compile(r"[a-z0-9']+")
#: Vocabulary size of the default policy's tokenizer (SmolLM2), the default ``V`` of :func:`ead`.
SMOLLM2_VOCAB_SIZE = 49_152
# A sentence ends with . ! ? or an ellipsis, optionally followed by closing quotes/brackets, or with an emoji.
_SENTENCE_END = re.compile(r"([.!?\u2026][\"'\u201d\u2019)\]]*|[\U0001F300-\U0001FAFF\u2600-\u27BF])\s*$")


def words(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` (``[a-z0-9']+``)."""
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """All contiguous ``n``-grams of ``tokens``, in order, with repeats (``len(tokens) - n + 1`` of them, or 0)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def copy_rate(completion: str, prompt: str, n: int = 3) -> float:
    """Share of the completion's word ``n``-grams (counted with repeats) that also occur in the prompt.

    A completion shorter than ``n`` words is compared with ``n`` = its length (so "Hello there" against a
    prompt holding "hello there" is a full copy); an empty completion has copy rate 0.0.

    Args:
        completion: Generated text.
        prompt: The request (plain text; for chat prompts pass the last user turn).
        n: n-gram order, default 3.

    Returns:
        A float in [0, 1]; 1.0 = every n-gram of the completion is in the prompt. Lower is better.
    """
    c = words(completion)
    if not c:
        return 0.0
    k = min(n, len(c))
    grams = ngrams(c, k)
    source = set(ngrams(words(prompt), k))
    return sum(g in source for g in grams) / len(grams)


def strip_prompt_ngrams(completion: str, prompt: str, n: int = 3) -> str:
    """The completion's words that are not part of any word ``n``-gram shared with the prompt, joined by spaces.

    A restated prompt ("Here's a slogan for a bakery that ...") loses the restated span; words the completion
    shares with the prompt only in passing (fewer than ``n`` in a row) stay.

    Returns:
        Lower-cased remaining words joined by single spaces ("" when everything was copied or nothing was there).
    """
    c = words(completion)
    source = set(ngrams(words(prompt), n))
    drop = [False] * len(c)
    for i, g in enumerate(ngrams(c, n)):
        if g in source:
            for j in range(i, i + n):
                drop[j] = True
    return " ".join(w for w, d in zip(c, drop, strict=True) if not d)


_WORD_ANY_CASE = re.compile(r"[a-z0-9']+", re.IGNORECASE)


def copied_spans(completion: str, prompt: str, n: int = 3) -> list[tuple[int, int]]:
    """Character ranges of ``completion`` that restate the prompt: its word ``n``-grams shared with the prompt.

    The span-level twin of :func:`strip_prompt_ngrams` (same words, same ``n``-gram rule), for judges that work
    on model tokens rather than words: a token that overlaps a returned range is part of a copy. Each shared
    ``n``-gram covers from the first character of its first word to the last character of its last word, plus
    the punctuation right after it (``"sale."``, ``"jacket:"``); ranges separated only by spaces or punctuation
    are merged, so the quotes and commas inside a restated request belong to the copy too.

    Args:
        completion: Generated text (offsets refer to this exact string).
        prompt: The request.
        n: Word n-gram order, default 3.

    Returns:
        Sorted, disjoint ``(start, end)`` character ranges (end exclusive); ``[]`` when nothing is copied.
    """
    found = list(_WORD_ANY_CASE.finditer(completion))
    grams = ngrams([m.group().lower() for m in found], n)
    source = set(ngrams(words(prompt), n))
    out: list[tuple[int, int]] = []
    for i, g in enumerate(grams):
        if g not in source:
            continue
        start, end = found[i].start(), found[i + n - 1].end()
        while end < len(completion) and not completion[end].isalnum() and not completion[end].isspace():
            end += 1
        if out and not any(ch.isalnum() for ch in completion[out[-1][1] : start]):
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


def ends_sentence(text: str) -> bool:
    """Whether ``text`` (stripped) ends like a finished sentence: ``. ! ? …`` (then closing quotes/brackets) or an emoji.

    A heuristic stand-in for "stopped with EOS" when the generator's ``finished`` flags are not available.
    """
    return bool(text.strip()) and _SENTENCE_END.search(text.strip()) is not None


def expected_distinct(vocab_size: int, count: int) -> float:
    """Expected number of distinct types among ``count`` draws, uniform with replacement, from ``vocab_size`` types.

    ``V * (1 - ((V - 1) / V) ** C)`` (Liu et al. 2022, Eq. 3).
    """
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
    return vocab_size * (1.0 - ((vocab_size - 1) / vocab_size) ** count)


def ead(texts: Sequence[str] | str, n: int = 2, vocab_size: int = SMOLLM2_VOCAB_SIZE) -> float:
    """Expectation-adjusted distinct-n over one text or a pool of texts (Liu et al. 2022, ACL).

    ``EAD = N / (V * (1 - ((V - 1) / V) ** C))`` with ``N`` the number of distinct word ``n``-grams, ``C`` the
    total number of word ``n``-grams (n-grams do not cross text boundaries) and ``V`` the vocabulary size: the
    number of distinct n-grams divided by its expectation under uniform sampling, which removes distinct-n's
    bias towards short texts. Source: Liu, Sabour, Li, Yang, Kong & Huang, "Rethinking and Refining the Distinct
    Metric", ACL 2022, Eq. 4 (the paper uses the same ``V`` for every ``n``; so do we).

    Args:
        texts: One text or several (e.g. a prompt's samples, pooled).
        n: n-gram order (word level), default 2.
        vocab_size: ``V``; default 49,152 (the SmolLM2 tokenizer's vocabulary).

    Returns:
        A float >= 0 (0.0 when there is no n-gram). With ``V`` much larger than ``C`` it is close to
        distinct-n and can exceed 1 slightly (by about ``(C - 1) / (2 V)``); repetition pulls it down.
    """
    pool = [texts] if isinstance(texts, str) else list(texts)
    grams = [g for t in pool for g in ngrams(words(t), n)]
    if not grams:
        return 0.0
    return len(set(grams)) / expected_distinct(vocab_size, len(grams))
