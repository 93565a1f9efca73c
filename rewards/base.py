"""The reward-model protocol shared by every consumer (TRL, stable-baselines3, Gymnasium, ``evaluate``).

A reward model is a batched callable::

    reward(completions, prompts=None, **columns) -> list[float | None]

``completions`` are strings or chat messages (lists of ``{"role", "content"}`` dicts, as TRL passes them for
conversational datasets); ``prompts`` likewise; any dataset column (``references``, ``target``, ...) arrives as
a keyword argument with one entry per completion. The result holds one value per completion, higher is
better; ``None`` means "does not apply to this sample" (TRL's convention).

Subclasses implement :meth:`RewardModel.score`, which returns the *raw* metric on its natural scale (self-BLEU
in [0, 1], harm-term count, ...). ``__call__`` validates the raw values (case A1, huggingface/trl#6533: wrong length, NaN or inf is an
error naming the reward and the index) and flips the sign of metrics declared ``direction = "minimize"``, so
that every reward can be maximised by any agent unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "RewardModel",
    "RewardOutputError",
    "FunctionReward",
    "to_text",
    "group_indices",
    "validate_rewards",
    "json_range",
    "needs_of",
]


class RewardOutputError(ValueError):
    """A reward model returned something that cannot be used as a reward (wrong length, NaN, inf, not a number)."""


def to_text(item: Any) -> str:
    """Return the plain text of a completion or prompt.

    Args:
        item: A string, or chat messages (a list of ``{"role": str, "content": str}`` dicts, as TRL passes
            conversational data), or a single message dict.

    Returns:
        The string itself, or the contents of the messages joined by newlines (for a conversation, the text
        a reward should judge: for completions this is the assistant turn(s)).

    Raises:
        TypeError: if ``item`` is none of these.
    """
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        return str(item.get("content", ""))
    if isinstance(item, Sequence):
        return "\n".join(to_text(m) for m in item)
    if item is None:
        return ""
    raise TypeError(f"expected a string or chat messages, got {type(item).__name__}: {item!r:.80}")


def last_user_text(item: Any) -> str:
    """The text of the last user turn of a chat prompt (or the prompt string itself)."""
    if isinstance(item, Sequence) and not isinstance(item, str):
        users = [m for m in item if isinstance(m, Mapping) and m.get("role") == "user"]
        if users:
            return str(users[-1].get("content", ""))
    return to_text(item)


def group_indices(
    prompts: Sequence[Any] | None, n: int, group_ids: Sequence[Any] | None = None
) -> list[list[int]]:
    """Partition ``range(n)`` into groups of completions that answer the same prompt.

    Args:
        prompts: One prompt per completion (strings or chat messages), or ``None``.
        n: Number of completions.
        group_ids: Optional explicit group key per completion; takes precedence over ``prompts``.

    Returns:
        Lists of indices in first-seen order. With neither ``prompts`` nor ``group_ids`` the whole batch is
        one group.

    Raises:
        ValueError: if ``prompts``/``group_ids`` do not have one entry per completion.
    """
    keys: Sequence[Any] | None = group_ids if group_ids is not None else prompts
    if keys is None:
        return [list(range(n))]
    if len(keys) != n:
        raise ValueError(f"expected one prompt/group id per completion ({n}), got {len(keys)}")
    groups: dict[Any, list[int]] = {}
    for i, k in enumerate(keys):
        key = k if isinstance(k, (str, int)) else repr(k)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def validate_rewards(name: str, values: Any, expected: int) -> list[float | None]:
    """Check a reward model's output (handed case A1, huggingface/trl#6533) and return it as a list of floats or ``None``.

    Args:
        name: The reward's name, used in the error message.
        values: The output: list/tuple/array/tensor of numbers or ``None``.
        expected: How many completions were scored.

    Returns:
        A list of ``expected`` entries, each a Python float or ``None`` (not applicable).

    Raises:
        RewardOutputError: wrong length (never broadcast), a non-numeric entry, or a NaN/inf value; the
            message names the reward and the index of the first bad value.
    """
    if hasattr(values, "detach"):  # torch tensor
        values = values.detach().cpu().tolist()
    elif isinstance(values, np.ndarray):
        values = values.tolist()
    if isinstance(values, (int, float)) or not isinstance(values, Sequence) or isinstance(values, str):
        raise RewardOutputError(
            f"reward {name!r} returned {type(values).__name__} {values!r:.60}; expected a list of {expected} values "
            "(one per completion)"
        )
    if len(values) != expected:
        raise RewardOutputError(
            f"reward {name!r}: expected {expected} values, got {len(values)} (one reward per completion is "
            "required; values are never broadcast)"
        )
    out: list[float | None] = []
    for i, v in enumerate(values):
        if v is None:
            out.append(None)
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise RewardOutputError(
                f"reward {name!r}: value at index {i} is not a number: {v!r:.60}"
            ) from None
        if not math.isfinite(f):
            raise RewardOutputError(
                f"reward {name!r}: value at index {i} is {f} (NaN/inf); return None for 'not applicable'"
            )
        out.append(f)
    return out


def json_range(value_range: Sequence[float]) -> list[float | None]:
    """A ``(low, high)`` range as strict JSON: floats, ``None`` for an infinite side.

    Raises:
        ValueError: a bound is NaN.
    """
    out: list[float | None] = []
    for v in value_range:
        f = float(v)
        if math.isnan(f):
            raise ValueError(f"range bound is NaN in {tuple(value_range)!r}")
        out.append(f if math.isfinite(f) else None)
    return out


def needs_of(reward: Any) -> list[str]:
    """What a reward (class or instance) needs besides the completions, from its metadata attributes.

    Returns:
        A sub-list of ``["prompt", "group", "references", "images"]``.
    """
    flags = {
        "prompt": getattr(reward, "requires_prompt", False),
        "group": getattr(reward, "requires_group", False),
        "references": getattr(reward, "requires_references", False),
        "images": getattr(reward, "modality", "text") == "image",
    }
    return [k for k, v in flags.items() if v]


class RewardModel:
    """Base class of aigc-rl reward models.

    Class attributes every subclass sets:
        name: Registry name, lower-case kebab case (``"distinct-2"``).
        direction: ``"maximize"`` or ``"minimize"``: which way the raw metric is better. ``__call__`` returns
            ``-raw`` for ``"minimize"``, so the reward is always to be maximised.
        value_range: ``(low, high)`` of the raw metric (``math.inf`` for unbounded).
        requires_group: True when the value of one completion depends on its siblings for the same prompt
            (creativity rewards); the group is the set of completions with the same prompt in the batch (or
            the ``group_ids`` keyword).
        requires_references: True when the keyword ``references`` is needed.
        requires_prompt: True when the prompts are needed (``reward(completions, prompts=...)``).
        source: The paper or library the metric comes from.
        kind: ``"quality"``, ``"creativity"``, ``"safety"`` or ``"custom"``. The report plots quality against
            creativity by this attribute; presets and the docs tables group by it.
        modality: ``"text"`` (completions are strings or chat messages) or ``"image"`` (an image batch).
        range_note: Optional words shown after the range in the docs tables (units, other settings' ranges).

    These attributes are the one place a reward's metadata lives: the registry
    (:func:`aigc_rl.rewards.registry.reward_info`), ``aigc-rl rewards``, the docs tables
    (``tools/reward_table.py``) and the report's categories read them.

    Subclasses implement :meth:`score`. Models are loaded lazily, once, on first use.
    """

    name: ClassVar[str] = "reward"
    direction: ClassVar[str] = "maximize"
    value_range: ClassVar[tuple[float, float]] = (-math.inf, math.inf)
    requires_group: ClassVar[bool] = False
    requires_references: ClassVar[bool] = False
    requires_prompt: ClassVar[bool] = False
    source: ClassVar[str] = ""
    kind: ClassVar[str] = "custom"
    modality: ClassVar[str] = "text"
    range_note: ClassVar[str] = ""
    #: TRL keywords (of ``completion_ids``, ``trainer_state``, ...) this reward reads; the others are dropped.
    trl_kwargs: ClassVar[frozenset[str]] = frozenset()

    @property
    def __name__(self) -> str:  # TRL names reward functions by ``__name__`` in its logs
        return self.name

    def score(self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any) -> Sequence[Any]:
        """Raw metric per completion.

        Args:
            completions: Completion texts, length ``n``.
            prompts: Prompt texts (length ``n``) or ``None``.
            **kwargs: Dataset columns, one entry per completion.

        Returns:
            ``n`` numbers on the metric's natural scale (``value_range``) or ``None`` for not applicable.
        """
        raise NotImplementedError

    def raw(
        self, completions: Sequence[Any] | np.ndarray, prompts: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float | None]:
        """Validated raw metric values (no sign flip); see :meth:`score`."""
        texts = [to_text(c) for c in completions]
        ptexts = [last_user_text(p) for p in prompts] if prompts is not None else None
        if ptexts is not None and len(ptexts) != len(texts):
            raise ValueError(
                f"reward {self.name!r}: got {len(texts)} completions but {len(ptexts)} prompts; pass one prompt per "
                "completion"
            )
        kwargs = {k: v for k, v in kwargs.items() if k not in _TRL_EXTRA_KWARGS or k in self.trl_kwargs}
        values = self.score(texts, ptexts, **kwargs)
        return validate_rewards(self.name, values, len(texts))

    def __call__(
        self, completions: Sequence[Any] | np.ndarray, prompts: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float | None]:
        """Reward per completion, higher is better (``None`` = not applicable).

        Accepts the keyword arguments TRL passes (``completion_ids``, ``trainer_state``, ``log_extra``,
        ``log_metric`` and dataset columns) and ignores those it does not use.

        Args:
            completions: ``n`` texts or chat messages (text rewards), or an image batch float ``(n, H, W)`` in
                ``[0, 1]`` (image rewards).
            prompts: ``n`` prompts or ``None``.
            **kwargs: Dataset columns and TRL's keywords.

        Raises:
            RewardOutputError: see :func:`validate_rewards`.
            ValueError: prompts and completions differ in length, or a required keyword is missing.
        """
        values = self.raw(completions, prompts, **kwargs)
        if self.direction == "minimize":
            return [None if v is None else (-v or 0.0) for v in values]  # no "-0.0" in logs
        return values

    def needs(self) -> list[str]:
        """What a call needs besides the completions: any of ``"prompt"``, ``"group"``, ``"references"``,
        ``"images"`` (in this order)."""
        return needs_of(self)

    def info(self) -> dict[str, Any]:
        """Metadata as strict JSON values (``json.dumps(info, allow_nan=False)`` works).

        Returns:
            ``{"name", "kind", "modality", "direction", "range": [low, high], "needs": [...],
            "requires_group", "requires_references", "source"}``. An unbounded side of the range is ``None``
            (JSON ``null``), never ``-inf``/``inf``: ``[None, 0.0]`` is ``(-inf, 0]``.
        """
        return {
            "name": self.name,
            "kind": self.kind,
            "modality": self.modality,
            "direction": self.direction,
            "range": json_range(self.value_range),
            "needs": self.needs(),
            "requires_group": self.requires_group,
            "requires_references": self.requires_references,
            "source": self.source,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


# Keywords TRL's GRPO/RLOO trainers pass to every reward function that no aigc-rl reward consumes.
_TRL_EXTRA_KWARGS = frozenset({"completion_ids", "trainer_state", "log_extra", "log_metric", "environments"})


class FunctionReward(RewardModel):
    """Wrap a plain callable ``f(completions, prompts=..., **kw) -> list[float|None]`` as a :class:`RewardModel`.

    Used for third-party rewards (entry points, ``pkg.module:factory``) so that they get the same output
    validation (case A1, huggingface/trl#6533) as built-in ones.
    """

    def __init__(
        self,
        fn: Callable[..., Sequence[Any]],
        name: str | None = None,
        direction: str = "maximize",
        value_range: tuple[float, float] = (-math.inf, math.inf),
        requires_group: bool = False,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"expected a callable reward, got {type(fn).__name__}")
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
        self.fn = fn
        self.name = str(name or getattr(fn, "__name__", type(fn).__name__))  # type: ignore[misc]
        self.direction = direction  # type: ignore[misc]
        self.value_range = value_range  # type: ignore[misc]
        self.requires_group = requires_group  # type: ignore[misc]

    def score(self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any) -> Sequence[Any]:
        return self.fn(completions=completions, prompts=prompts, **kwargs)
