"""Which metrics measure quality and which measure creativity, which way is better, and on what scale.

Nothing is kept here: every answer comes from the reward registry (:mod:`aigc_rl.rewards.registry`), the one
place reward metadata lives.

1. Metrics that evaluation writes beside the reward components and that are not rewards (``reward``,
   ``length`` = word count, ``repetition``, ``distinct-2-corpus``, ``kl``, ``target-accuracy``,
   ``diversity``): :data:`aigc_rl.rewards.registry.EVAL_METRICS`.
2. Reward components: :func:`aigc_rl.rewards.registry.reward_info`, which reads the reward class's ``kind``,
   ``direction`` and ``value_range`` without building it (no model loads).

A metric's category is its kind when that is ``quality`` or ``creativity``, else ``"other"`` (the total
``reward``, ``length``, ``repetition``, ``kl``, safety scores, unknown names): shown in the tables but not an
axis of the quality-versus-creativity plot.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache

from aigc_rl.rewards.registry import EVAL_METRICS, names, reward_info

__all__ = ["MetricInfo", "metric_info", "normalised", "DIAGNOSTIC_METRICS"]

INF = math.inf


@dataclass(frozen=True)
class MetricInfo:
    """What the report knows about a metric.

    Attributes:
        name: Metric name as in eval.json.
        category: ``"quality"``, ``"creativity"`` or ``"other"``.
        direction: ``"maximize"`` or ``"minimize"`` (which way the raw value is better).
        value_range: ``(low, high)`` of the raw value; infinite bounds allowed.
        source: Where the information came from: ``"eval-metric"`` (:data:`EVAL_METRICS`), ``"registry"``
            (a reward) or ``"unknown"``.
    """

    name: str
    category: str
    direction: str
    value_range: tuple[float, float]
    source: str


#: Evaluation diagnostics (not rewards, no category): listed last in the report's tables.
DIAGNOSTIC_METRICS: tuple[str, ...] = tuple(
    n for n, m in EVAL_METRICS.items() if m.category == "other" and n != "reward"
)


def metric_info(name: str, present: Collection[str] = ()) -> MetricInfo:
    """Category, direction and range of a metric (see the module docstring for the lookup order).

    Args:
        name: Metric name as in eval.json, e.g. ``"distinct-2"``, ``"self-bleu"``, ``"target-accuracy"``.
        present: The other metric names of the same policy in eval.json. Where ``"NAME (eval)"`` is among
            them, evaluation renamed its own statistic because a reward component is called ``NAME``
            (:func:`aigc_rl.stats.eval_stat_key`; the ``length`` reward): ``NAME`` is then that reward
            component, looked up in the reward registry, not the statistic.

    Returns:
        A :class:`MetricInfo`; unknown names get category ``"other"``, ``"maximize"``, unbounded range.
    """
    return _metric_info(name, f"{name} (eval)" in present)


@lru_cache(maxsize=256)
def _metric_info(name: str, is_component: bool) -> MetricInfo:
    stat = name.removesuffix(" (eval)")  # an eval statistic renamed beside a reward of its name
    if stat in EVAL_METRICS and not is_component:
        m = EVAL_METRICS[stat]
        return MetricInfo(name, m.category, m.direction, m.value_range, "eval-metric")
    unknown = MetricInfo(name, "other", "maximize", (-INF, INF), "unknown")
    try:
        # registered and entry-point names only: a metric name from a run directory never imports a module
        if name not in names():
            return unknown
        r = reward_info(name)
    except Exception:  # a third-party reward whose metadata cannot be read: the report goes on
        return unknown
    return MetricInfo(name, r.category, r.direction, r.value_range, "registry")


def normalised(
    name: str, value: float, observed: list[float] | None = None, present: Collection[str] = ()
) -> float:
    """Map a raw metric value to [0, 1], 1 = best, for the quality-versus-creativity plot.

    * Finite range ``(lo, hi)``: ``(v - lo) / (hi - lo)``, clipped.
    * Log-likelihood-like range ``(-inf, 0]``: ``exp(v)`` (for fluency, the inverse perplexity).
    * Otherwise: min-max over ``observed`` (the values of all points in the report); 0.5 if they are equal.

    For ``direction == "minimize"`` the result is ``1 - x``.

    Args:
        name: Metric name.
        value: Raw value.
        observed: All raw values of this metric in the report (for the min-max case).
        present: The policy's other metric names, as for :func:`metric_info`.

    Returns:
        A float in [0, 1].
    """
    info = metric_info(name, present)
    lo, hi = info.value_range
    if math.isfinite(lo) and math.isfinite(hi) and hi > lo:
        x = (value - lo) / (hi - lo)
    elif math.isinf(lo) and hi == 0.0:
        x = math.exp(min(value, 0.0))
    else:
        vals = [v for v in (observed or [value]) if v is not None and math.isfinite(v)]
        vmin, vmax = (min(vals), max(vals)) if vals else (value, value)
        x = 0.5 if vmax - vmin < 1e-12 else (value - vmin) / (vmax - vmin)
    x = min(1.0, max(0.0, x))
    return 1.0 - x if info.direction == "minimize" else x
