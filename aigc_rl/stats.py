"""Confidence intervals shared by text and image evaluation.

* :func:`bootstrap_ci` — percentile bootstrap interval of a mean (Efron & Tibshirani 1993, ch. 13): used
  for every per-prompt (text) or per-image / per-class (image) metric.
* :func:`binomial_ci` — Wilson score interval of a proportion (Wilson 1927) through
  ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``: used for accuracies (``k`` correct of ``n``).

Why :func:`bootstrap_ci` is not ``scipy.stats.bootstrap``: with the same generator seed and
``method="percentile"``, scipy draws the same resamples but its percentiles differ from
``numpy.quantile`` in the last bits for some inputs (measured with scipy 1.17.1: 8 of 18 test arrays differ by
one or two ulps, e.g. ``0.8216181435011584`` vs ``...585``). Evaluation numbers of a run must stay
bit-identical across versions, so the numpy implementation is kept; ``tests/agents/test_latent_agents.py``
checks that both agree to 1e-12.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["bootstrap_ci", "binomial_ci", "eval_stat_key", "mean_ci"]


def eval_stat_key(stat: str, components: list[str] | tuple[str, ...]) -> str:
    """The key in ``eval.json``'s ``policies`` of one of ``aigc-rl eval``'s own text statistics (``length`` in
    words, ``repetition``, ``distinct-2-corpus``): ``stat``, or ``"STAT (eval)"`` when a reward component of
    the run has that name (the ``length`` reward), which keeps its own key."""
    return f"{stat} (eval)" if stat in components else stat


def bootstrap_ci(
    values: np.ndarray, n_resamples: int = 5000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean.

    ``NaN`` values (a metric that does not apply to a sample) are dropped first.

    Args:
        values: 1-D float array (one value per prompt, image or class).
        n_resamples: Bootstrap resamples (each one draws ``len(values)`` indices with replacement from
            ``numpy.random.default_rng(seed)``).
        seed: Seed of the resampling generator.
        level: Coverage in (0, 1).

    Returns:
        ``(low, high)``: the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles (numpy's linear
        interpolation) of the resampled means; both equal the value for a single observation; both ``NaN``
        when no value is left.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return (math.nan, math.nan)
    if v.size == 1:
        return (float(v[0]), float(v[0]))
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_resamples, v.size))].mean(axis=1)
    a = (1 - level) / 2
    return (float(np.quantile(means, a)), float(np.quantile(means, 1 - a)))


def binomial_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``k / n`` (Wilson 1927), via ``scipy.stats.binomtest``.

    Args:
        k: Successes, ``0 <= k <= n``.
        n: Trials (``0`` gives ``(nan, nan)``).
        level: Coverage in (0, 1).

    Returns:
        ``(low, high)`` within ``[0, 1]``.

    Raises:
        ValueError: ``k`` outside ``0..n`` or ``n < 0``.
    """
    from scipy.stats import binomtest

    k, n = int(k), int(n)
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"binomial_ci needs 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (math.nan, math.nan)
    ci = binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    return (float(ci.low), float(ci.high))


def mean_ci(values: np.ndarray, seed: int = 0, level: float = 0.95) -> dict[str, object]:
    """``{"mean": float, "ci95": [low, high]}`` of ``values`` (``NaN`` dropped) with :func:`bootstrap_ci`.

    Args:
        values: 1-D float array.
        seed: Seed of the bootstrap.
        level: Coverage in (0, 1).

    Returns:
        The summary; ``mean`` is ``NaN`` when no value is left.
    """
    v = np.asarray(values, dtype=np.float64)
    finite = v[~np.isnan(v)]
    lo, hi = bootstrap_ci(finite, seed=seed, level=level)
    return {"mean": float(finite.mean()) if finite.size else math.nan, "ci95": [lo, hi]}
