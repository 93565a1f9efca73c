"""Model-free judges: prompt-copy rate, completion rate, expectation-adjusted distinct-n (EAD)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from .base import Judge, check_lengths, group_indices, register_judge
from .text import SMOLLM2_VOCAB_SIZE, copy_rate, ead, ends_sentence

__all__ = ["CopyRate", "CompletionRate", "EAD", "finished_flags"]


@register_judge
class CopyRate(Judge):
    """Prompt-copy rate: share of the completion's word n-grams (n=3) found in the prompt.

    Call:
        ``judge(completions, prompts) -> list[float]`` in [0, 1]; lower is better (see
        :func:`aigc_rl.judges.text.copy_rate`).
    """

    name: ClassVar[str] = "copy-rate"
    direction: ClassVar[str] = "lower"
    range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    kind: ClassVar[str] = "copy"
    source: ClassVar[str] = (
        "n-gram overlap with the source (as in ROUGE-n precision, Lin 2004), n=3, word level"
    )

    def __init__(self, n: int = 3) -> None:
        self.n = n

    def __call__(self, completions: Sequence[str], prompts: Sequence[str], **kwargs: Any) -> list[float]:
        check_lengths(completions, prompts, self.name)
        return [copy_rate(c, p, self.n) for c, p in zip(completions, prompts, strict=True)]


def finished_flags(completions: Sequence[str], finished: Sequence[bool] | None = None) -> list[bool]:
    """Whether each completion finished: the generator's ``finished`` flags when given, else a sentence end.

    Args:
        completions: Generated texts.
        finished: ``True`` where generation stopped with EOS inside the token limit (from the sampler).

    Raises:
        ValueError: ``finished`` has another length than ``completions``.
    """
    if finished is not None:
        if len(finished) != len(completions):
            raise ValueError(f"{len(finished)} finished flags for {len(completions)} completions")
        return [bool(f) and bool(c.strip()) for c, f in zip(completions, finished, strict=True)]
    return [ends_sentence(c) for c in completions]


@register_judge
class CompletionRate(Judge):
    """Completion: 1.0 when the completion ended with EOS inside the limit (``finished=`` column), else 0.0.

    Without a ``finished`` column, a non-empty completion that ends like a sentence (``. ! ? …``, closing
    quotes, or an emoji) counts as finished. An empty completion never counts. The mean is the completion rate.

    Call:
        ``judge(completions, prompts, finished=None) -> list[float]`` of 0.0/1.0; higher is better.
    """

    name: ClassVar[str] = "completion"
    direction: ClassVar[str] = "higher"
    range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    kind: ClassVar[str] = "completion"
    source: ClassVar[str] = "stop-with-EOS rate (cf. DAPO overlong filtering, Yu et al. 2025)"

    def __call__(
        self,
        completions: Sequence[str],
        prompts: Sequence[str],
        finished: Sequence[bool] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        check_lengths(completions, prompts, self.name)
        return [float(f) for f in finished_flags(completions, finished)]


@register_judge
class EAD(Judge):
    """Expectation-adjusted distinct-n (Liu et al. 2022) over each prompt's samples, pooled.

    Args:
        n: n-gram order (words), default 2.
        vocab_size: ``V`` of the formula; default 49,152 (SmolLM2's vocabulary).
        per_sample: Score each completion alone instead of pooling a prompt's samples.

    Call:
        ``judge(completions, prompts, groups=None) -> list[float]``, >= 0 (about [0, 1]); each sample gets its
        group's value (or its own when ``per_sample``); higher is more diverse. See :func:`aigc_rl.judges.text.ead`.
    """

    name: ClassVar[str] = "ead"
    direction: ClassVar[str] = "higher"
    range: ClassVar[tuple[float, float]] = (0.0, math.inf)
    kind: ClassVar[str] = "diversity"
    source: ClassVar[str] = "Liu et al. 2022, Rethinking and Refining the Distinct Metric (ACL), Eq. 4"

    def __init__(self, n: int = 2, vocab_size: int = SMOLLM2_VOCAB_SIZE, per_sample: bool = False) -> None:
        self.n, self.vocab_size, self.per_sample = n, vocab_size, per_sample

    def __call__(
        self,
        completions: Sequence[str],
        prompts: Sequence[str],
        groups: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        check_lengths(completions, prompts, self.name)
        if self.per_sample:
            return [ead(c, self.n, self.vocab_size) for c in completions]
        out = [0.0] * len(completions)
        for idx in group_indices(prompts, groups):
            value = ead([completions[i] for i in idx], self.n, self.vocab_size)
            for i in idx:
                out[i] = value
        return out
