"""stable-baselines3 agents for aigc-rl environments.

* :class:`LMActorCriticPolicy` — PPO/A2C policy whose actor is a causal LM (LoRA adapter or last layers) and
  whose critic is a value head, for ``aigc_rl/TokenGeneration-v0``.
* :class:`LMPPO` — ``PPO`` with that policy; checks the env's spaces before SB3 wraps it (case E1, DLR-RM/stable-baselines3#1704).
"""

from __future__ import annotations

from .lm_policy import DEFAULT_LORA, LMPPO, LMActorCriticPolicy, UnsupportedSpaceError, check_token_spaces

__all__ = ["LMActorCriticPolicy", "LMPPO", "UnsupportedSpaceError", "check_token_spaces", "DEFAULT_LORA"]
