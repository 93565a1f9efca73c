"""Weighted composition of reward models from a spec string or a config mapping.

The spec grammar, the presets and the weight bounds live in :mod:`aigc_rl.rewards.spec` (re-exported here:
:data:`PRESETS`, :func:`parse_spec`). Examples: ``"quality+creativity"``, ``"relevance:1.0,distinct-2:0.5"``,
``"quality:1+creativity:0.5"``, ``"my_pkg.rewards:factory:0.5+relevance"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from .base import RewardModel, group_indices, validate_rewards
from .registry import UnknownRewardError, make, names
from .spec import PRESETS, check_weights, is_dotted_path, parse_spec

__all__ = ["CompositeReward", "PRESETS", "parse_spec", "make_composite", "NORMALIZATIONS", "COMPOSITIONS"]

NORMALIZATIONS = ("none", "batch", "group")
#: How components combine: ``sum`` (weighted sum) or ``darling`` (quality x diversity, Li et al. 2025, DARLING).
COMPOSITIONS = ("sum", "darling")


class CompositeReward(RewardModel):
    """Weighted sum of reward models, each optionally normalised, with every component kept for logging.

    ``total_i = sum_k w_k * norm_k(r_k)_i`` where ``r_k`` is component ``k``'s reward (sign already flipped
    for minimised metrics) and ``norm`` is ``none``, ``batch`` (z-score over the batch) or ``group``
    (z-score within the completions of one prompt; a group of size 1 or zero variance gives 0). Components
    returning ``None`` for a sample contribute 0 there; if all do, the total is ``None``.

    ``composition="darling"`` multiplies quality by diversity instead, as DARLING does (Li et al. 2025,
    "Jointly Reinforcing Diversity and Quality in Language Model Generations", arXiv:2509.02534), so that a
    completion earns its quality in full only when it also differs from its siblings:
    ``total = Q * D`` when ``Q >= 0`` and ``Q * (2 - D)`` when ``Q < 0``, where ``Q`` is the weighted
    (normalised) sum of the quality and safety components as above and ``D`` in [0, 1] is the weighted mean of
    the creativity components, each oriented so higher is more diverse and mapped to [0, 1] through its
    ``value_range`` (an unbounded upper end is clipped at 1; ``normalize`` does not apply to them). The
    second branch is aigc-rl's extension to signed qualities (DARLING's are >= 0): diversity then still
    raises the total (from ``2Q`` at ``D = 0`` to ``Q`` at ``D = 1``), and the total is continuous at ``Q = 0``.

    After each call, :attr:`last_components` maps ``name`` -> raw values and ``name/weighted`` -> weighted
    (normalised) contributions, as float lists.

    Args:
        components: ``[(RewardModel, weight)]``.
        normalize: ``"none"`` | ``"batch"`` | ``"group"``, or a mapping component name -> one of these.
        name: Name of the composite (default ``"reward"``).
        composition: ``"sum"`` (default) or ``"darling"``.

    Raises:
        ValueError: no components, a bad normalisation or composition, or ``darling`` without at least one
            creativity component with a positive weight and one other component.
    """

    name: ClassVar[str] = "reward"
    source: ClassVar[str] = "weighted sum of components"

    def __init__(
        self,
        components: Sequence[tuple[RewardModel, float]],
        normalize: str | Mapping[str, str] = "none",
        name: str = "reward",
        composition: str = "sum",
    ) -> None:
        if not components:
            raise ValueError("a composite reward needs at least one component")
        if composition not in COMPOSITIONS:
            raise ValueError(f"composition {composition!r} is not one of {COMPOSITIONS}")
        self.composition = composition
        if composition == "darling":
            div = [(r.name, w) for r, w in components if r.kind == "creativity"]
            if not div or len(div) == len(components) or any(w <= 0 for _, w in div):
                raise ValueError(
                    "composition 'darling' multiplies quality by diversity: the reward needs at least one "
                    "creativity component (e.g. embedding-diversity), each with a positive weight, and at least "
                    f"one quality component; got {[(r.name, r.kind, w) for r, w in components]}"
                )
        self.components = [(r, float(w)) for r, w in components]
        check_weights([(r.name, w) for r, w in self.components], "the composite reward")
        self.name = name  # type: ignore[misc]
        norms = (
            normalize if isinstance(normalize, Mapping) else {r.name: normalize for r, _ in self.components}
        )
        for k, v in norms.items():
            if v not in NORMALIZATIONS:
                raise ValueError(f"normalisation {v!r} for {k!r} is not one of {NORMALIZATIONS}")
        self.normalize = {r.name: norms.get(r.name, "none") for r, _ in self.components}
        self.requires_group = any(r.requires_group for r, _ in self.components)  # type: ignore[misc]
        self.requires_references = any(r.requires_references for r, _ in self.components)  # type: ignore[misc]
        self.requires_prompt = any(r.requires_prompt for r, _ in self.components)  # type: ignore[misc]
        if all(r.modality == "image" for r, _ in self.components):
            self.modality = "image"  # type: ignore[misc]
        self.last_components: dict[str, list[float | None]] = {}

    @property
    def weights(self) -> dict[str, float]:
        return {r.name: w for r, w in self.components}

    def component_names(self) -> list[str]:
        return [r.name for r, _ in self.components]

    def _norm(self, x: np.ndarray, mode: str, prompts: Sequence[Any] | None, group_ids: Any) -> np.ndarray:
        if mode == "none":
            return x
        out = np.zeros_like(x)
        groups = [list(range(len(x)))] if mode == "batch" else group_indices(prompts, len(x), group_ids)
        for idx in groups:
            v = x[idx]
            ok = ~np.isnan(v)
            # one sample: nothing to normalise against (case B3, DLR-RM/stable-baselines3#325)
            if ok.sum() <= 1:
                out[idx] = np.where(ok, 0.0, np.nan)
                continue
            sd = float(np.nanstd(v))
            out[idx] = (v - np.nanmean(v)) / sd if sd > 1e-8 else np.where(ok, 0.0, np.nan)
        return out

    @staticmethod
    def _unit(x: np.ndarray, reward: RewardModel) -> np.ndarray:
        """Values (already oriented: higher = more diverse) mapped to [0, 1] through the reward's range."""
        lo, hi = reward.value_range
        if reward.direction == "minimize":
            lo, hi = -hi, -lo
        if not np.isfinite(lo):
            raise ValueError(f"composition 'darling': {reward.name} has no finite lower bound to scale from")
        span = (hi - lo) if np.isfinite(hi) else 1.0
        return np.clip((x - lo) / span, 0.0, 1.0)

    def compute(
        self, completions: Sequence[Any] | np.ndarray, prompts: Sequence[Any] | None = None, **kwargs: Any
    ) -> tuple[list[float | None], dict[str, list[float | None]]]:
        """Total reward and per-component values.

        Returns:
            ``(total, components)``: ``total`` has one float (or ``None``) per completion; ``components`` maps
            each component name to its raw metric values (natural scale, no sign flip) and
            ``"<name>/weighted"`` to the weighted, normalised contribution.
        """
        n = len(completions)
        total = np.zeros(n, dtype=np.float64)
        any_ok = np.zeros(n, dtype=bool)
        div_sum, div_w, div_ok = np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool)
        darling = self.composition == "darling"
        comps: dict[str, list[float | None]] = {}
        for reward, weight in self.components:
            raw = reward.raw(completions, prompts, **kwargs)
            sign = -1.0 if reward.direction == "minimize" else 1.0
            x = np.array([np.nan if v is None else sign * v for v in raw], dtype=np.float64)
            if darling and reward.kind == "creativity":
                contrib = self._unit(x, reward)
                ok = ~np.isnan(contrib)
                div_sum[ok] += weight * contrib[ok]
                div_w[ok] += weight
                div_ok |= ok
            else:
                contrib = weight * self._norm(
                    x, self.normalize[reward.name], prompts, kwargs.get("group_ids")
                )
                ok = ~np.isnan(contrib)
                total[ok] += contrib[ok]
                any_ok |= ok
            comps[reward.name] = raw
            comps[f"{reward.name}/weighted"] = [float(v) if not np.isnan(v) else None for v in contrib]
        if darling:
            d = np.where(div_ok, div_sum / np.where(div_w > 0, div_w, 1.0), np.nan)
            comps["diversity"] = [float(v) if not np.isnan(v) else None for v in d]
            total = np.where(total >= 0, total * d, total * (2.0 - d))
            any_ok &= div_ok
        out = [float(t) if ok else None for t, ok in zip(total, any_ok, strict=True)]
        self.last_components = comps
        return validate_rewards(self.name, out, n), comps

    def raw(
        self, completions: Sequence[Any] | np.ndarray, prompts: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float | None]:
        total, comps = self.compute(completions, prompts, **kwargs)
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):  # TRL passes log_metric(name, value) to reward functions
            for k, v in comps.items():
                vals = [x for x in v if x is not None]
                if vals:
                    log_metric(f"rewards/{k}", float(np.mean(vals)))
        return total

    def info(self) -> dict[str, Any]:
        d = super().info()
        d["components"] = [
            dict(r.info(), weight=w, normalize=self.normalize[r.name]) for r, w in self.components
        ]
        d["composition"] = self.composition
        return d


def make_composite(
    spec: str | Mapping[str, float] | Sequence[tuple[str, float]],
    normalize: str | Mapping[str, str] = "none",
    reward_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
    composition: str = "sum",
) -> CompositeReward:
    """Build a :class:`CompositeReward` from a spec string, a ``{name: weight}`` mapping or pairs.

    Args:
        spec: A spec string (grammar: :mod:`aigc_rl.rewards.spec`), a ``{name: weight}`` mapping or pairs.
        normalize: Per-component normalisation (see :class:`CompositeReward`).
        reward_kwargs: Keyword arguments per component name, e.g. ``{"fluency": {"model": policy_model}}``.
        composition: ``"sum"`` or ``"darling"`` (see :class:`CompositeReward`).

    Raises:
        ValueError: bad spec or weights (not finite, ``|w|`` above ``spec.MAX_WEIGHT``, all zero).
        UnknownRewardError: a component name is not registered (lists the names).
    """
    if isinstance(spec, str):
        pairs = parse_spec(spec)
    else:
        items = spec.items() if isinstance(spec, Mapping) else spec
        pairs = [(str(k), float(v)) for k, v in items]
        check_weights(pairs, f"reward {dict(pairs)!r}")
    reward_kwargs = reward_kwargs or {}
    unknown = [k for k in reward_kwargs if k not in dict(pairs)]
    if unknown:
        raise ValueError(f"reward_kwargs for {unknown} but the spec has only {[p for p, _ in pairs]}")
    for name, _ in pairs:  # a spec also takes presets: list them with the rewards
        if name not in names() and not is_dotted_path(name):
            raise UnknownRewardError(
                f"unknown reward {name!r}; available: {', '.join(names())}; presets: {', '.join(PRESETS)} (or a "
                "dotted path 'pkg.module:factory')"
            )
    comps = [(make(name, **dict(reward_kwargs.get(name, {}))), w) for name, w in pairs]
    return CompositeReward(comps, normalize=normalize, composition=composition)


def available() -> list[str]:
    """Registered reward names plus preset names."""
    return sorted(set(names()) | set(PRESETS))
