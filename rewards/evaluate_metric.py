"""The ``evaluate.Metric`` behind every aigc-rl evaluate module (see :mod:`aigc_rl.rewards.adapters`).

Imported by the generated modules only: it imports ``evaluate`` and ``datasets``, which
``import aigc_rl.rewards`` does not need.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import datasets
import evaluate

from .registry import make

__all__ = ["RewardMetric"]


class RewardMetric(evaluate.Metric):
    """An aigc-rl reward as an ``evaluate`` metric; subclasses set :attr:`reward_name`.

    ``evaluate.load(path, reward_kwargs={...})`` builds the reward with ``aigc_rl.rewards.make(reward_name,
    **reward_kwargs)``. Inputs: ``predictions`` (strings) and, for reference-based rewards, ``references`` (one
    string or a list of strings per prediction); any other keyword of ``compute`` (``prompts``, ``group_ids``,
    dataset columns) is passed to the reward.

    ``compute`` returns ``{reward_name: mean raw value over the predictions it applies to (None if none),
    "scores": the reward per prediction exactly as calling the reward returns it (sign flipped for minimised
    metrics; None = not applicable), "raw": the raw metric per prediction}``.
    """

    reward_name: ClassVar[str] = ""

    def __init__(self, *args: Any, reward_kwargs: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        if not self.reward_name:
            raise TypeError("RewardMetric is abstract: subclass it and set reward_name")
        self.reward = make(self.reward_name, **dict(reward_kwargs or {}))
        super().__init__(*args, **kwargs)

    def _info(self) -> evaluate.MetricInfo:
        r = self.reward
        preds = {"predictions": datasets.Value("string")}
        if r.requires_references:
            # one format only: compute()/add_batch() turn a single reference string into a one-item list first, so
            # a batch mixing strings and lists is never mis-read (evaluate would take a string as a list of chars)
            features: Any = datasets.Features(
                {**preds, "references": datasets.Sequence(datasets.Value("string"))}
            )
        else:
            features = datasets.Features(preds)
        return evaluate.MetricInfo(
            description=(type(r).__doc__ or r.name).strip().split("\n\n")[0],
            citation=r.source,
            inputs_description=(
                "predictions: list of strings; references (reference-based rewards): a string or a list of strings "
                "per prediction; prompts and other columns as keyword arguments"
            ),
            features=features,
            homepage="https://pypi.org/project/aigc-rl/",
        )

    @staticmethod
    def _as_lists(references: Any) -> Any:
        if references is None or isinstance(references, str):
            return references
        return [[r] if isinstance(r, str) else ([] if r is None else list(r)) for r in references]

    def compute(
        self, *, predictions: Any = None, references: Any = None, **kwargs: Any
    ) -> dict[str, Any] | None:
        """See the class docstring; ``references`` may mix strings and lists of strings."""
        if references is not None:
            kwargs["references"] = self._as_lists(references)
        return super().compute(predictions=predictions, **kwargs)

    def add_batch(self, *, predictions: Any = None, references: Any = None, **kwargs: Any) -> None:
        """Add a batch of predictions (and references) to be scored by :meth:`compute`."""
        if references is not None:
            kwargs["references"] = self._as_lists(references)
        return super().add_batch(predictions=predictions, **kwargs)

    def _compute(
        self, predictions: list[str], references: list[Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        prompts = kwargs.pop("prompts", None)
        if references is not None:
            kwargs[getattr(self.reward, "column", "references")] = references
        raw = self.reward.raw(predictions, prompts, **kwargs)
        sign = -1.0 if self.reward.direction == "minimize" else 1.0
        scores = [None if v is None else (sign * v or 0.0) for v in raw]
        vals = [v for v in raw if v is not None]
        return {self.reward_name: (sum(vals) / len(vals) if vals else None), "scores": scores, "raw": raw}
