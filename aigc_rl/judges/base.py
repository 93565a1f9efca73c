"""The judge protocol and the registry of held-out judges.

A *judge* scores completions for evaluation only: it is never a training reward unless the user asks, and it
shares no model with the policy or the default training rewards (the policy is SmolLM2, the rewards embed
with all-MiniLM-L6-v2; the judges use Gemma 3 and all-mpnet-base-v2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

__all__ = ["Judge", "JUDGES", "register_judge", "check_lengths", "group_indices"]


class Judge:
    """Base class of a held-out judge: a batched callable ``(completions, prompts, **kw) -> list[float]``.

    Class attributes (every judge sets them):
        name: Registry key, e.g. ``"gemma-fluency"``.
        direction: ``"higher"`` or ``"lower"``: which way is better.
        range: ``(low, high)`` of the values (``float("inf")`` when unbounded).
        kind: ``"quality"`` (counts only when it separates bad from good completions, AUC >= 0.8),
            ``"copy"``, ``"completion"`` or ``"diversity"``.
        source: Paper or library the judge follows.
    """

    name: ClassVar[str]
    direction: ClassVar[str]
    range: ClassVar[tuple[float, float]]
    kind: ClassVar[str]
    source: ClassVar[str]

    def __call__(self, completions: Sequence[str], prompts: Sequence[str], **kwargs: Any) -> list[float]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """``{"name", "direction", "range", "kind", "source"}`` for reports and ``eval.json``."""
        return {
            "name": self.name,
            "direction": self.direction,
            "range": list(self.range),
            "kind": self.kind,
            "source": self.source,
        }


#: name -> factory (a Judge subclass or a callable returning a Judge).
JUDGES: dict[str, Callable[..., Judge]] = {}


def register_judge(cls: type[Judge]) -> type[Judge]:
    """Class decorator: add ``cls`` to :data:`JUDGES` under ``cls.name`` (a duplicate name raises ValueError)."""
    if cls.name in JUDGES:
        raise ValueError(f"judge {cls.name!r} is already registered")
    JUDGES[cls.name] = cls
    return cls


def check_lengths(completions: Sequence[str], prompts: Sequence[str], name: str) -> None:
    """Raise ``ValueError`` naming judge ``name`` unless there is one prompt per completion."""
    if len(completions) != len(prompts):
        raise ValueError(f"judge {name}: {len(completions)} completions but {len(prompts)} prompts")


def group_indices(prompts: Sequence[str], groups: Sequence[Any] | None = None) -> list[list[int]]:
    """Indices of the samples of each group, in first-seen order: by ``groups`` if given, else by equal prompt.

    Returns:
        A list of index lists covering ``range(len(prompts))`` exactly once.
    """
    keys = list(groups) if groups is not None else list(prompts)
    out: dict[Any, list[int]] = {}
    for i, k in enumerate(keys):
        out.setdefault(k, []).append(i)
    return list(out.values())
