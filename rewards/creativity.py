"""Creativity rewards for text: diversity of a group of completions for one prompt."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, ClassVar

from ._text import ngrams, tokenize
from .base import RewardModel, group_indices

__all__ = ["DistinctN", "EAD", "distinct_n_corpus"]


def distinct_n_corpus(texts: list[str], n: int) -> float:
    """Corpus distinct-n (Li et al., 2016, "A Diversity-Promoting Objective Function for Neural Conversation
    Models"): number of distinct n-grams over the total number of n-grams in ``texts``.

    Returns:
        A float in [0, 1]; 0.0 when the texts hold no n-gram at all.
    """
    grams = [g for t in texts for g in ngrams(tokenize(t), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


class DistinctN(RewardModel):
    """distinct-n within the group of completions for one prompt (Li et al., 2016), per completion.

    For completion ``i`` with n-gram multiset ``G_i`` and siblings ``j != i`` in its group, the value is the
    number of distinct n-grams of ``G_i`` that occur in no sibling, divided by ``|G_i|``. With a group of one
    this is Li et al.'s distinct-n of the single completion; a completion that repeats itself or copies a
    sibling scores low. An empty completion (no n-gram) scores 0.0.

    Range [0, 1], maximise. Tokens: words/punctuation, CJK by character (see ``aigc_rl.rewards._text``).

    Args:
        n: n-gram order, >= 1.
    """

    requires_group: ClassVar[bool] = True
    kind: ClassVar[str] = "creativity"
    value_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    source: ClassVar[str] = (
        "Li et al. 2016, A Diversity-Promoting Objective Function for Neural Conversation Models"
    )

    def __init__(self, n: int = 2) -> None:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"distinct-n needs an integer n >= 1, got {n!r}")
        self.n = n
        self.name = f"distinct-{n}"  # type: ignore[misc]

    def score(self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any) -> list[float]:
        grams = [ngrams(tokenize(c), self.n) for c in completions]
        out = [0.0] * len(completions)
        for idx in group_indices(prompts, len(completions), kwargs.get("group_ids")):
            counts = Counter(
                g for i in idx for g in set(grams[i])
            )  # in how many group members each n-gram occurs
            for i in idx:
                if not grams[i]:
                    continue
                own = set(grams[i])
                unique = sum(1 for g in own if counts[g] == 1)
                out[i] = unique / len(grams[i])
        return out


class EAD(RewardModel):
    """Expectation-adjusted distinct-n of each completion (Liu et al. 2022): distinct n-grams over their expectation.

    ``EAD = N / (V * (1 - ((V - 1) / V) ** C))`` over the completion's word n-grams, with ``N`` distinct of
    ``C`` n-grams and ``V`` the vocabulary size (:func:`aigc_rl.judges.text.ead`; words are lower-cased
    ``[a-z0-9']+`` runs). Unlike distinct-n it does not pay a completion for being short; repeated words pull
    it down. Fewer than ``n`` words score 0.0. Scored per completion, so it needs no group; the held-out
    judge ``ead`` computes the same statistic over all samples of a prompt pooled. Range [0, inf), in practice
    about [0, 1] (at most ``1 + (C - 1) / 2V`` for ``C`` n-grams, when all are distinct); maximise.

    Args:
        n: word n-gram order, >= 1, default 2.
        vocab_size: ``V``, default 49,152 (the SmolLM2 tokenizer's vocabulary).

    Raises:
        ValueError: ``n`` < 1 or ``vocab_size`` < 1.
    """

    name: ClassVar[str] = "ead"
    kind: ClassVar[str] = "creativity"
    value_range: ClassVar[tuple[float, float]] = (0.0, math.inf)
    range_note: ClassVar[str] = "about [0, 1]: 1 + (C - 1) / 2V at most for C n-grams"
    source: ClassVar[str] = "Liu et al. 2022, Rethinking and Refining the Distinct Metric (ACL), Eq. 4"

    def __init__(self, n: int = 2, vocab_size: int | None = None) -> None:
        from aigc_rl.judges.text import SMOLLM2_VOCAB_SIZE

        vocab = SMOLLM2_VOCAB_SIZE if vocab_size is None else vocab_size
        if not isinstance(n, int) or n < 1 or not isinstance(vocab, int) or vocab < 1:
            raise ValueError(
                f"ead needs integers n >= 1 and vocab_size >= 1, got n={n!r}, vocab_size={vocab!r}"
            )
        self.n, self.vocab_size = n, vocab

    def score(self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any) -> list[float]:
        from aigc_rl.judges.text import ead

        return [ead(c, self.n, self.vocab_size) for c in completions]
