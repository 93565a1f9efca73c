"""Reward models for generated content: quality, creativity and safety.

Every reward is a batched callable ``reward(completions, prompts=None, **columns) -> list[float | None]`` that
plugs unchanged into TRL (``reward_funcs``), the aigc-rl Gymnasium envs and ``evaluate`` (a local module).
See :mod:`aigc_rl.rewards.base` for the protocol, :func:`make` / :func:`names` / :func:`reward_info` for the
registry and every reward's metadata, :mod:`aigc_rl.rewards.spec` for the spec grammar and presets,
:func:`evaluate_module_path` / :data:`EVALUATE_MODULE` for the local ``evaluate`` module and
``docs/rewards.md`` for the list of rewards.
"""

from __future__ import annotations

from .adapters import EVALUATE_MODULE, evaluate_module_path
from .base import FunctionReward, RewardModel, RewardOutputError, group_indices, to_text, validate_rewards
from .composite import CompositeReward, make_composite
from .registry import (
    RewardInfo,
    UnknownRewardError,
    make,
    names,
    register,
    reward_info,
    reward_infos,
)
from .spec import IMAGE_PRESETS, PRESETS, describe, image_reward_pairs, parse_spec

__all__ = [
    "RewardModel",
    "RewardOutputError",
    "FunctionReward",
    "CompositeReward",
    "PRESETS",
    "IMAGE_PRESETS",
    "RewardInfo",
    "describe",
    "make",
    "make_composite",
    "names",
    "parse_spec",
    "image_reward_pairs",
    "register",
    "reward_info",
    "reward_infos",
    "UnknownRewardError",
    "group_indices",
    "to_text",
    "validate_rewards",
    "evaluate_module_path",
    "EVALUATE_MODULE",
]
