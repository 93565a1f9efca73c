"""Reward models for generated content: quality, creativity and safety.

Every reward is a batched callable ``reward(completions, prompts=None, **columns) -> list[float | None]`` that
plugs unchanged into TRL (``reward_funcs``), the aigc-rl Gymnasium envs and ``evaluate`` (local modules).
See :mod:`aigc_rl.rewards.base` for the protocol, :func:`make` / :func:`names` for the registry,
:func:`evaluate_module_path` for the local ``evaluate`` modules and ``docs/rewards.md`` for the list of rewards.
"""

from __future__ import annotations

from .adapters import evaluate_module_path
from .base import FunctionReward, RewardModel, RewardOutputError, group_indices, to_text, validate_rewards
from .composite import PRESETS, CompositeReward, make_composite, parse_spec
from .registry import UnknownRewardError, make, names, register

__all__ = [
    "RewardModel",
    "RewardOutputError",
    "FunctionReward",
    "CompositeReward",
    "PRESETS",
    "make",
    "make_composite",
    "names",
    "parse_spec",
    "register",
    "UnknownRewardError",
    "group_indices",
    "to_text",
    "validate_rewards",
    "evaluate_module_path",
]
