"""A reward model from what a user passes to an env or a task: a spec string, a mapping, an object or a callable."""

from __future__ import annotations

from typing import Any

__all__ = ["resolve_reward"]


def resolve_reward(reward: Any) -> Any:
    """Return a :class:`~aigc_rl.rewards.base.RewardModel` for an env.

    Args:
        reward: A spec string for :func:`aigc_rl.rewards.composite.make_composite` (``"relevance+distinct-2"``),
            a ``{name: weight}`` mapping, a ``RewardModel`` object, or a plain callable
            ``f(completions, prompts=..., **kw) -> list[float | None]``.

    Raises:
        ValueError / UnknownRewardError: a bad spec (from ``make_composite``).
        TypeError: anything else.
    """
    from aigc_rl.rewards.base import FunctionReward, RewardModel
    from aigc_rl.rewards.composite import make_composite

    if isinstance(reward, RewardModel):
        return reward
    if isinstance(reward, (str, dict)):
        return make_composite(reward)
    if callable(reward):
        return FunctionReward(reward)
    raise TypeError(
        f"reward must be a spec string like 'relevance+distinct-2', a RewardModel or a callable, got "
        f"{type(reward).__name__}"
    )
