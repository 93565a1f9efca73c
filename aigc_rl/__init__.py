"""aigc-rl: reinforcement learning on generative models.

Sub-packages: :mod:`aigc_rl.envs` (Gymnasium environments, registered on import), :mod:`aigc_rl.rewards`
(reward models), :mod:`aigc_rl.agents` (TRL and stable-baselines3 agents), :mod:`aigc_rl.report` (reports).
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import envs as envs  # noqa: E402  (registers the Gymnasium ids)
