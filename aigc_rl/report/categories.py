"""Which metrics measure quality and which measure creativity, which way is better, and on what scale.

Lookup order for a metric name:

1. the reward registry (:func:`aigc_rl.rewards.make`): a reward model's ``category`` attribute when it has one,
   its ``direction`` and ``value_range``;
2. the reward presets (:data:`aigc_rl.rewards.PRESETS`): components of the ``quality`` preset are quality,
   those of the ``creativity`` preset are creativity;
3. the fallback table :data:`FALLBACK` below (also used for image metrics and diagnostics such as ``length``).

A metric in neither category is ``"other"`` (the total ``reward``, ``length``, ``repetition``, ``kl``, safety
scores): it is shown in the tables but is not an axis of the quality-versus-creativity plot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["MetricInfo", "metric_info", "normalised", "FALLBACK", "DIAGNOSTIC_METRICS"]

INF = math.inf


@dataclass(frozen=True)
class MetricInfo:
    """What the report knows about a metric.

    Attributes:
        name: Metric name as in eval.json.
        category: ``"quality"``, ``"creativity"`` or ``"other"``.
        direction: ``"maximize"`` or ``"minimize"`` (which way the raw value is better).
        value_range: ``(low, high)`` of the raw value; infinite bounds allowed.
        source: Where the information came from: ``"registry"``, ``"preset"``, ``"fallback"`` or ``"unknown"``.
    """

    name: str
    category: str
    direction: str
    value_range: tuple[float, float]
    source: str


#: Fallback table: (name or prefix ending in "-"/"*", category, direction, range). Prefix entries end with "*".
FALLBACK: list[tuple[str, str, str, tuple[float, float]]] = [
    ("relevance", "quality", "maximize", (-1.0, 1.0)),
    ("fluency", "quality", "maximize", (-INF, 0.0)),
    ("coherence", "quality", "maximize", (-INF, INF)),
    ("readability", "quality", "maximize", (-INF, INF)),
    ("sentiment", "quality", "maximize", (-1.0, 1.0)),
    ("bleu", "quality", "maximize", (0.0, 100.0)),
    ("chrf", "quality", "maximize", (0.0, 100.0)),
    ("rouge*", "quality", "maximize", (0.0, 1.0)),
    ("perplexity", "quality", "minimize", (1.0, INF)),
    ("target-accuracy", "quality", "maximize", (0.0, 1.0)),
    ("classifier-confidence", "quality", "maximize", (0.0, 1.0)),
    ("realism", "quality", "maximize", (-INF, INF)),
    ("distinct*", "creativity", "maximize", (0.0, 1.0)),
    ("self-bleu", "creativity", "minimize", (0.0, 1.0)),
    ("diversity", "creativity", "maximize", (0.0, 1.0)),
    ("novelty", "creativity", "maximize", (0.0, 1.0)),
    ("entropy", "creativity", "maximize", (0.0, INF)),
    ("length", "other", "maximize", (0.0, INF)),
    ("repetition", "other", "minimize", (0.0, 1.0)),
    ("kl", "other", "minimize", (0.0, INF)),
    ("harm", "other", "minimize", (0.0, INF)),
    ("reward", "other", "maximize", (-INF, INF)),
]

#: Metrics that eval.json may hold besides reward components; never compared as rewards.
DIAGNOSTIC_METRICS = ("length", "repetition", "kl")


def _fallback(name: str) -> tuple[str, str, tuple[float, float]] | None:
    for key, cat, direction, rng in FALLBACK:
        if key.endswith("*") and name.startswith(key[:-1]) or key == name:
            return cat, direction, rng
    return None


def _preset_category(name: str) -> str | None:
    try:
        from aigc_rl.rewards.composite import PRESETS
    except Exception:  # a broken rewards package must not stop a report
        return None
    for cat in ("quality", "creativity"):
        if any(c == name for c, _ in PRESETS.get(cat, [])):
            return cat
    return None


@lru_cache(maxsize=256)
def metric_info(name: str) -> MetricInfo:
    """Category, direction and range of a metric (see the module docstring for the lookup order).

    Args:
        name: Metric name as in eval.json, e.g. ``"distinct-2"``, ``"self-bleu"``, ``"target-accuracy"``.

    Returns:
        A :class:`MetricInfo`; unknown names get category ``"other"``, ``"maximize"``, unbounded range.
    """
    fb = _fallback(name)
    if name in DIAGNOSTIC_METRICS or name == "reward":
        cat, direction, rng = fb  # type: ignore[misc]
        return MetricInfo(name, cat, direction, rng, "fallback")
    reg = None
    try:
        from aigc_rl.rewards.registry import make

        reg = make(name)  # models inside reward models load lazily: constructing one is cheap
    except Exception:
        reg = None
    preset = _preset_category(name)
    if reg is not None:
        cat = getattr(reg, "category", None) or preset or (fb[0] if fb else "other")
        direction = str(getattr(reg, "direction", "maximize"))
        rng = tuple(float(x) for x in getattr(reg, "value_range", (-INF, INF)))
        return MetricInfo(name, str(cat), direction, rng, "registry")  # type: ignore[arg-type]
    if preset is not None:
        _, direction, rng = fb if fb else ("", "maximize", (-INF, INF))
        return MetricInfo(name, preset, direction, rng, "preset")
    if fb is not None:
        return MetricInfo(name, fb[0], fb[1], fb[2], "fallback")
    return MetricInfo(name, "other", "maximize", (-INF, INF), "unknown")


def normalised(name: str, value: float, observed: list[float] | None = None) -> float:
    """Map a raw metric value to [0, 1], 1 = best, for the quality-versus-creativity plot.

    * Finite range ``(lo, hi)``: ``(v - lo) / (hi - lo)``, clipped.
    * Log-likelihood-like range ``(-inf, 0]``: ``exp(v)`` (for fluency, the inverse perplexity).
    * Otherwise: min-max over ``observed`` (the values of all points in the report); 0.5 if they are equal.

    For ``direction == "minimize"`` the result is ``1 - x``.

    Args:
        name: Metric name.
        value: Raw value.
        observed: All raw values of this metric in the report (for the min-max case).

    Returns:
        A float in [0, 1].
    """
    info = metric_info(name)
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
