"""Creativity rewards for text: diversity of a group of completions for one prompt."""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

from ._text import ngrams, tokenize
from .base import RewardModel, group_indices

__all__ = ["DistinctN", "distinct_n_corpus"]


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
