"""The ``evaluate.Metric`` behind aigc-rl's local ``evaluate`` module (see :mod:`aigc_rl.rewards.adapters`).

Imported by the module file only: it imports ``evaluate`` and ``datasets``, which ``import aigc_rl.rewards``
does not need.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import datasets
import evaluate

from .registry import make

__all__ = ["RewardMetric"]


class RewardMetric(evaluate.Metric):
    """An aigc-rl reward as an ``evaluate`` metric.

    The reward is ``evaluate.load``'s ``config_name`` (``evaluate.load(EVALUATE_MODULE, config_name="bleu")``),
    or the class attribute :attr:`reward_name` of a per-reward module (the older call style
    ``evaluate.load(evaluate_module_path("bleu"))``). ``reward_kwargs={...}`` builds it with
    ``aigc_rl.rewards.make(name, **reward_kwargs)``. Inputs: ``predictions`` (strings) and, for
    reference-based rewards, ``references`` (one string or a list of strings per prediction); any other keyword
    of ``compute`` (``prompts``, ``group_ids``, dataset columns) is passed to the reward.

    ``compute`` returns ``{name: mean raw value over the predictions it applies to (None if none),
    "scores": the reward per prediction exactly as calling the reward returns it (sign flipped for minimised
    metrics; None = not applicable), "raw": the raw metric per prediction}``.

    Raises:
        ValueError: (on load) no reward named: neither ``config_name`` nor :attr:`reward_name`; errors of
            :func:`aigc_rl.rewards.make` (unknown reward, missing ``model=``) propagate.
    """

    reward_name: ClassVar[str] = ""

    def __init__(self, *args: Any, reward_kwargs: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        config_name = kwargs.get("config_name")
        name = self.reward_name or (config_name if config_name not in (None, "default") else "")
        if not name:
            raise ValueError(
                "name the aigc-rl reward: evaluate.load(aigc_rl.rewards.EVALUATE_MODULE, config_name='bleu')"
            )
        if self.reward_name and config_name not in (None, "default", self.reward_name):
            raise ValueError(
                f"this module is reward {self.reward_name!r}; config_name={config_name!r} names another one"
            )
        self.metric_key = str(name)
        self.reward = make(self.metric_key, **dict(reward_kwargs or {}))
        kwargs["config_name"] = self.metric_key
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
        return {self.metric_key: (sum(vals) / len(vals) if vals else None), "scores": scores, "raw": raw}
