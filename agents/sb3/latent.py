"""stable-baselines3 agents (PPO, SAC, A2C) on ``aigc_rl/LatentImage-v0``: the public names in one place.

The image agent lives in modules of one concern each; this module re-exports their public names so that
``from aigc_rl.agents.sb3.latent import train_latent`` keeps working:

* :mod:`.vec_env` — :class:`LatentVecEnv`, the SB3 ``VecEnv`` adapter (and its state for exact resume);
* :mod:`.policy_io` — :func:`save_policy` / :func:`load_policy` (safetensors + JSON, no pickle: case G1, DLR-RM/stable-baselines3#1852);
* :mod:`.train_state` — checkpoints holding everything a resumed run needs;
* :mod:`.latent_train` — :func:`train_latent` in an :mod:`aigc_rl.run` run directory;
* :mod:`.latent_eval` — :func:`evaluate_latent`;
* :mod:`aigc_rl.rewards.spec` — :data:`IMAGE_PRESETS` and :func:`image_reward_pairs` (beside the text presets).

See ``docs/images.md`` for the run directory, checkpoints, resume and the evaluation flags.
"""

from __future__ import annotations

from aigc_rl.errors import PickleRefusedError
from aigc_rl.rewards.spec import IMAGE_PRESETS, image_reward_pairs

from .latent_eval import evaluate_latent
from .latent_train import DEFAULT_HYPERPARAMETERS, IMAGE_SAVE_STEPS, check_batch_sizes, train_latent
from .policy_io import ALGOS, ENV_ID, build_model, load_policy, save_policy
from .train_state import load_checkpoint, save_checkpoint
from .vec_env import LatentSubprocVecEnv, LatentVecEnv, SpacesEnv

__all__ = [
    "ALGOS",
    "DEFAULT_HYPERPARAMETERS",
    "IMAGE_PRESETS",
    "IMAGE_SAVE_STEPS",
    "ENV_ID",
    "PickleRefusedError",
    "LatentVecEnv",
    "LatentSubprocVecEnv",
    "SpacesEnv",
    "build_model",
    "check_batch_sizes",
    "image_reward_pairs",
    "train_latent",
    "save_policy",
    "load_policy",
    "save_checkpoint",
    "load_checkpoint",
    "evaluate_latent",
]
