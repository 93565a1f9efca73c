"""Reward registry: ``make(name, **kwargs)``, ``names()``, ``register``, and every reward's metadata.

Names are lower-case kebab case. Besides the built-ins, a reward can come from

* the entry-point group ``aigc_rl.rewards`` of any installed distribution (``name = "pkg.module:factory"``), or
* a dotted path ``"pkg.module:factory"`` given directly to :func:`make`,

with no edit to aigc-rl. A factory is a :class:`~aigc_rl.rewards.base.RewardModel` subclass or any callable
that returns a reward model or a plain reward function (wrapped in
:class:`~aigc_rl.rewards.base.FunctionReward`).

**Metadata in one place.** A reward's kind, modality, direction, range, needs and source are class attributes
of its :class:`~aigc_rl.rewards.base.RewardModel` subclass; :func:`reward_info` reads them (without building
the reward) into a :class:`RewardInfo`. The presets (:mod:`aigc_rl.rewards.spec`), ``aigc-rl rewards``
(:func:`aigc_rl.rewards.spec.describe`), the docs tables (``tools/reward_table.py``) and the report's metric categories
(:mod:`aigc_rl.report.categories`) are all derived from it. :data:`EVAL_METRICS` holds the few metrics that
evaluation writes beside the reward components (``length``, ``repetition``, ...), which are not rewards.
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from aigc_rl.errors import UnknownRewardError

from .base import FunctionReward, RewardModel, json_range, needs_of

__all__ = [
    "register",
    "make",
    "names",
    "UnknownRewardError",
    "RewardImportError",
    "resolve_factory",
    "RewardInfo",
    "Variant",
    "reward_class",
    "reward_info",
    "reward_infos",
    "EVAL_METRICS",
    "KINDS",
    "MODALITIES",
]


class RewardImportError(UnknownRewardError, ValueError):
    """A dotted-path reward (``pkg.module:factory``) whose module or attribute cannot be imported.

    Bad user input (exit 2 with one line from the CLI); also a ``ValueError`` as before.
    """


#: Reward kinds. ``quality`` and ``creativity`` are the two axes of the report's quality-versus-creativity plot.
KINDS = ("quality", "creativity", "safety", "custom")
#: What a reward scores: completion texts (or chat messages) or an image batch ``(N, H, W)``.
MODALITIES = ("text", "image")


@dataclass(frozen=True)
class RewardInfo:
    """What is known about a reward (or an evaluation metric) without building it.

    Attributes:
        name: Registry name (``"distinct-2"``) or eval.json metric name.
        kind: ``"quality"``, ``"creativity"``, ``"safety"`` or ``"custom"`` (``"other"`` for evaluation
            diagnostics such as ``length``).
        modality: ``"text"`` or ``"image"``.
        direction: ``"maximize"`` or ``"minimize"``: which way the raw metric is better.
        value_range: ``(low, high)`` of the raw metric; ``math.inf`` for an unbounded side.
        needs: What a call needs besides the completions: any of ``"prompt"``, ``"group"``, ``"references"``,
            ``"images"``.
        source: Paper and/or library the metric comes from.
        summary: One line on what it measures (the first line of the class docstring).
        range_note: Words shown after the range in the docs tables (units, the range of other settings).
    """

    name: str
    kind: str
    modality: str
    direction: str
    value_range: tuple[float, float]
    needs: tuple[str, ...] = ()
    source: str = ""
    summary: str = ""
    range_note: str = ""

    @property
    def category(self) -> str:
        """``"quality"``, ``"creativity"`` or ``"other"``: the axis of the report's quality-vs-creativity plot."""
        return self.kind if self.kind in ("quality", "creativity") else "other"

    def to_json(self) -> dict[str, Any]:
        """Strict-JSON dict (an unbounded side of the range is ``None``): ``{"name", "kind", "modality",
        "direction", "range", "needs", "source", "summary"}``."""
        return {
            "name": self.name,
            "kind": self.kind,
            "modality": self.modality,
            "direction": self.direction,
            "range": json_range(self.value_range),
            "needs": list(self.needs),
            "source": self.source,
            "summary": self.summary,
        }

    @classmethod
    def of(cls, reward: Any, name: str | None = None) -> RewardInfo:
        """Read the metadata attributes of a reward class or instance.

        Args:
            reward: A :class:`RewardModel` subclass or instance (other objects get the base defaults).
            name: The registered name; default ``reward.name``.
        """
        doc = inspect.getdoc(reward if isinstance(reward, type) else type(reward)) or ""
        if isinstance(reward, FunctionReward):
            doc = inspect.getdoc(reward.fn) or ""
        summary = re.sub(r"``([^`]+)``", r"`\1`", doc.strip().split("\n")[0]) if doc else ""
        lo, hi = getattr(reward, "value_range", (-math.inf, math.inf))
        return cls(
            name=str(name or getattr(reward, "name", "reward")),
            kind=str(getattr(reward, "kind", "custom")),
            modality=str(getattr(reward, "modality", "text")),
            direction=str(getattr(reward, "direction", "maximize")),
            value_range=(float(lo), float(hi)),
            needs=tuple(needs_of(reward)),
            source=str(getattr(reward, "source", "")),
            summary=summary,
            range_note=str(getattr(reward, "range_note", "")),
        )


def _metric(
    name: str, kind: str, modality: str, direction: str, lo: float, hi: float, what: str
) -> RewardInfo:
    return RewardInfo(name, kind, modality, direction, (lo, hi), source=what, summary=what)


#: Metrics that ``aigc-rl eval`` writes into eval.json besides the reward components; they are not rewards.
#: Text runs (:mod:`aigc_rl.evaluation`): ``reward``, ``length``, ``repetition``, ``distinct-2-corpus``; image
#: runs (:mod:`aigc_rl.agents.sb3.latent`): ``reward``, ``target-accuracy``, ``diversity``; training logs:
#: ``kl``. In eval.json, ``length`` is the word count (this entry), not the ``length`` reward.
EVAL_METRICS: dict[str, RewardInfo] = {
    m.name: m
    for m in (
        _metric("reward", "other", "text", "maximize", -math.inf, math.inf, "the run's weighted reward"),
        _metric("length", "other", "text", "maximize", 0.0, math.inf, "completion length in words"),
        _metric(
            "repetition",
            "other",
            "text",
            "minimize",
            0.0,
            1.0,
            "fraction of repeated 3-grams in a completion",
        ),
        _metric(
            "distinct-2-corpus",
            "creativity",
            "text",
            "maximize",
            0.0,
            1.0,
            "distinct bigrams / bigrams over a prompt's samples (Li et al. 2016)",
        ),
        _metric("kl", "other", "text", "minimize", 0.0, math.inf, "KL divergence to the reference policy"),
        _metric(
            "target-accuracy",
            "quality",
            "image",
            "maximize",
            0.0,
            1.0,
            "fraction of images a held-out judge classifier assigns to their target class",
        ),
        _metric(
            "diversity",
            "creativity",
            "image",
            "maximize",
            0.0,
            1.0,
            "mean RMS pixel distance between same-target images",
        ),
    )
}


class Variant:
    """A registered factory that fixes some constructor arguments of a reward class.

    ``register("distinct-2", Variant(DistinctN, n=2))``: ``make("distinct-2", **kw)`` builds
    ``DistinctN(n=2, **kw)``, and :func:`reward_info` reads the metadata of ``DistinctN`` without building it.

    Raises:
        TypeError: (on call) a keyword the variant fixes is given again.
    """

    def __init__(self, reward_class: type[RewardModel], **fixed: Any) -> None:
        self.reward_class = reward_class
        self.fixed = fixed

    def __call__(self, **kwargs: Any) -> RewardModel:
        clash = sorted(set(kwargs) & set(self.fixed))
        if clash:
            raise TypeError(f"{self!r} fixes {clash}; pass the other arguments only")
        return self.reward_class(**self.fixed, **kwargs)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.fixed.items())
        return f"Variant({self.reward_class.__name__}, {args})"


_REGISTRY: dict[str, Callable[..., Any]] = {}
_NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
ENTRY_POINT_GROUP = "aigc_rl.rewards"


def register(name: str, factory: Callable[..., Any] | None = None, *, overwrite: bool = False):
    """Register a reward factory under ``name`` (usable as a decorator).

    Args:
        name: Lower-case kebab-case name, e.g. ``"distinct-2"``.
        factory: A RewardModel subclass or a callable returning a reward.
        overwrite: Replace an existing registration instead of raising.

    Raises:
        ValueError: the name is not kebab case, or is taken and ``overwrite`` is False.
    """

    def _do(f: Callable[..., Any]) -> Callable[..., Any]:
        if not _NAME_RE.match(name):
            raise ValueError(f"reward name {name!r} must be lower-case kebab case, e.g. 'distinct-2'")
        if name in _REGISTRY and not overwrite and _REGISTRY[name] is not f:
            raise ValueError(f"reward {name!r} is already registered; pass overwrite=True to replace it")
        _REGISTRY[name] = f
        return f

    return _do(factory) if factory is not None else _do


def _entry_point_factories() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def resolve_factory(path: str) -> Callable[..., Any]:
    """Import ``"pkg.module:attr"`` (or ``"pkg.module.attr"``) and return the attribute.

    Raises:
        RewardImportError: (a ``ValueError``) the module or attribute cannot be imported; the message says
            which.
    """
    if ":" in path:
        mod_name, _, attr = path.partition(":")
    else:
        mod_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as e:
        raise RewardImportError(f"cannot import module {mod_name!r} for reward {path!r}: {e}") from e
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise RewardImportError(f"module {mod_name!r} has no attribute {attr!r} (reward {path!r})")
        obj = getattr(obj, part)
    return obj


def _is_reward_function(obj: Any) -> bool:
    """A plain reward function takes ``completions`` itself (TRL's convention); a factory does not."""
    try:
        return "completions" in inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return False


def _instantiate(factory: Any, name: str, kwargs: dict[str, Any]) -> RewardModel:
    if isinstance(factory, RewardModel):
        if kwargs:
            raise TypeError(
                f"reward {name!r} is an instance; it takes no keyword arguments (got {sorted(kwargs)})"
            )
        return factory

    def _name(fn: Any) -> str:  # a registered/entry-point name wins over the function's own name
        return name if ":" not in name else getattr(fn, "__name__", name).replace("_", "-").lower()

    if not isinstance(factory, type) and _is_reward_function(factory):
        if kwargs:
            raise TypeError(
                f"reward {name!r} is a plain function; it takes no keyword arguments (got {sorted(kwargs)})"
            )
        return FunctionReward(factory, name=_name(factory))
    obj = factory(**kwargs)
    if isinstance(obj, RewardModel):
        return obj
    if callable(obj):
        return FunctionReward(obj, name=_name(obj))
    raise TypeError(f"reward factory {name!r} returned {type(obj).__name__}, which is not a reward callable")


def make(name: str, **kwargs: Any) -> RewardModel:
    """Build a reward model by name.

    Args:
        name: A registered name (see :func:`names`), an ``aigc_rl.rewards`` entry-point name, or a dotted path
            ``"pkg.module:factory"``.
        **kwargs: Passed to the factory.

    Returns:
        A :class:`RewardModel` (models inside load lazily on first call).

    Raises:
        UnknownRewardError: no such reward; the message lists the available names.
    """
    return _instantiate(_factory(name), name, kwargs)


def names() -> list[str]:
    """Sorted names of all registered rewards, entry points included."""
    _ensure_builtins()
    return sorted(set(_REGISTRY) | set(_entry_point_factories()))


def _ensure_builtins() -> None:
    # Importing the modules registers their rewards; done lazily to keep ``import aigc_rl.rewards`` light.
    from . import _builtin  # noqa: F401


def reward_class(factory: Any) -> type[RewardModel] | None:
    """The :class:`RewardModel` subclass a factory builds, when it says so without being called.

    Returns:
        ``factory`` itself for a subclass, ``factory.reward_class`` for a :class:`Variant` (or any factory
        with that attribute), else ``None``.
    """
    if isinstance(factory, type) and issubclass(factory, RewardModel):
        return factory
    cls = getattr(factory, "reward_class", None)
    return cls if isinstance(cls, type) and issubclass(cls, RewardModel) else None


def _factory(name: str) -> Any:
    _ensure_builtins()
    if name in _REGISTRY:
        return _REGISTRY[name]
    eps = _entry_point_factories()
    if name in eps:
        return eps[name].load()
    if ":" in name:
        return resolve_factory(name)
    raise UnknownRewardError(
        f"unknown reward {name!r}; available: {', '.join(names())} (or a dotted path 'pkg.module:factory', or "
        f"an entry point in group {ENTRY_POINT_GROUP!r})"
    )


def reward_info(name: str) -> RewardInfo:
    """Metadata of reward ``name``, read from its class attributes.

    Built-in and class-based rewards are not built (no model loads); a third-party factory that is not a
    class is called with no arguments and its result read.

    Args:
        name: A registered name, an entry-point name or a dotted path ``"pkg.module:factory"``.

    Raises:
        UnknownRewardError: no such reward (the message lists the names).
        Exception: whatever building a non-class third-party factory raises.
    """
    factory = _factory(name)
    cls = reward_class(factory)
    if cls is not None:
        return RewardInfo.of(cls, name)
    if isinstance(factory, RewardModel):
        return RewardInfo.of(factory, name)
    return RewardInfo.of(make(name), name)


def reward_infos(modality: str | None = None) -> list[RewardInfo]:
    """Metadata of the built-in and registered rewards, in registration order (built-ins as listed in
    :mod:`aigc_rl.rewards._builtin`); entry points are not included (see :func:`aigc_rl.rewards.spec.describe`).

    Args:
        modality: ``"text"`` or ``"image"`` to keep one modality; ``None`` for all.
    """
    _ensure_builtins()
    out = []
    for name, factory in _REGISTRY.items():
        cls = reward_class(factory)
        info = RewardInfo.of(cls if cls is not None else factory, name)
        if modality is None or info.modality == modality:
            out.append(info)
    return out
