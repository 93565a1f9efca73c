"""The hack-resistant rewards of issue 11, re-exported from the reward registry's modules (where they live).

- ``no-copy-relevance``: :class:`aigc_rl.rewards.quality.NoCopyRelevance` (also as :class:`NoCopyRelevance`).
- ``completion``: :class:`aigc_rl.rewards.lexical.Completion`; :func:`completion_reward` is a function form.
- ``ead``: :class:`aigc_rl.rewards.creativity.EAD` (also as :class:`EADReward`).
- ``soft-overlong``: :class:`aigc_rl.rewards.lexical.SoftOverlong` (also as :class:`SoftOverlongPenalty`).

Build them by name with :func:`aigc_rl.rewards.make` or in a reward spec (``--reward no-copy-relevance,...``).
The judges ``completion`` and ``ead`` (:mod:`aigc_rl.judges.stats`) are the same measures computed by
``aigc-rl eval`` as held-out judges; the judge ``ead`` pools a prompt's samples, the reward scores each one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aigc_rl.rewards.creativity import EAD
from aigc_rl.rewards.lexical import Completion, SoftOverlong
from aigc_rl.rewards.quality import NoCopyRelevance

__all__ = [
    "NoCopyRelevance",
    "Completion",
    "completion_reward",
    "EAD",
    "EADReward",
    "SoftOverlong",
    "SoftOverlongPenalty",
    "as_text",
]

EADReward = EAD
SoftOverlongPenalty = SoftOverlong


def as_text(item: Any) -> str:
    """Plain text of a completion or prompt: a string, or a chat message list (last message's ``content``)."""
    if isinstance(item, str):
        return item
    if isinstance(item, list) and item and isinstance(item[-1], dict):
        return str(item[-1].get("content", ""))
    if isinstance(item, dict):
        return str(item.get("content", ""))
    raise TypeError(f"expected a string or a list of chat messages, got {type(item).__name__}")


def completion_reward(
    completions: Sequence[Any],
    prompts: Sequence[Any] | None = None,
    finished: Sequence[bool] | None = None,
    completion_ids: Sequence[Sequence[int]] | None = None,
    eos_token_id: int | Sequence[int] | None = None,
    **kwargs: Any,
) -> list[float | None]:
    """The ``completion`` reward as a function: ``Completion(eos_token_id)(completions, prompts, ...)``.

    Returns:
        One float in {0.0, 1.0} per completion; higher is better.
    """
    extra = {k: v for k, v in (("finished", finished), ("completion_ids", completion_ids)) if v is not None}
    return Completion(eos_token_id)(completions, prompts, **extra, **kwargs)


completion_reward.__name__ = "completion"
