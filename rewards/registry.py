"""Reward registry: ``make(name, **kwargs)``, ``names()``, ``register``.

Names are lower-case kebab case. Besides the built-ins, a reward can come from

* the entry-point group ``aigc_rl.rewards`` of any installed distribution (``name = "pkg.module:factory"``), or
* a dotted path ``"pkg.module:factory"`` given directly to :func:`make`,

with no edit to aigc-rl. A factory is a :class:`~aigc_rl.rewards.base.RewardModel` subclass or any callable
that returns a reward model or a plain reward function (wrapped in
:class:`~aigc_rl.rewards.base.FunctionReward`).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from aigc_rl.errors import UnknownRewardError

from .base import FunctionReward, RewardModel

__all__ = ["register", "make", "names", "UnknownRewardError", "resolve_factory"]

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
        ValueError: the module or attribute cannot be imported; the message says which.
    """
    if ":" in path:
        mod_name, _, attr = path.partition(":")
    else:
        mod_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as e:
        raise ValueError(f"cannot import module {mod_name!r} for reward {path!r}: {e}") from e
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module {mod_name!r} has no attribute {attr!r} (reward {path!r})")
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
    _ensure_builtins()
    if name in _REGISTRY:
        return _instantiate(_REGISTRY[name], name, kwargs)
    eps = _entry_point_factories()
    if name in eps:
        return _instantiate(eps[name].load(), name, kwargs)
    if ":" in name:
        return _instantiate(resolve_factory(name), name, kwargs)
    raise UnknownRewardError(
        f"unknown reward {name!r}; available: {', '.join(names())} (or a dotted path 'pkg.module:factory', or "
        f"an entry point in group {ENTRY_POINT_GROUP!r})"
    )


def names() -> list[str]:
    """Sorted names of all registered rewards, entry points included."""
    _ensure_builtins()
    return sorted(set(_REGISTRY) | set(_entry_point_factories()))


def _ensure_builtins() -> None:
    # Importing the modules registers their rewards; done lazily to keep ``import aigc_rl.rewards`` light.
    from . import _builtin  # noqa: F401
