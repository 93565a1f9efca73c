"""Gymnasium environments for generative models, registered under the ``aigc_rl/`` namespace.

Importing :mod:`aigc_rl.envs` (or :mod:`aigc_rl`) registers them, so ``gym.make("aigc_rl/TextCompletion-v0")``
works in any project that did ``import aigc_rl``. Without the import, gymnasium's own ``module:Env-id`` syntax
works too: ``gym.make("aigc_rl.envs:aigc_rl/TextCompletion-v0")``.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

__all__ = ["ENV_IDS"]

_ENVS: dict[str, dict[str, object]] = {
    "aigc_rl/TextCompletion-v0": {
        "entry_point": "aigc_rl.envs.text.completion:TextCompletionEnv",
        "vector_entry_point": "aigc_rl.envs.text.completion:TextCompletionVectorEnv",
    },
    "aigc_rl/TokenGeneration-v0": {
        "entry_point": "aigc_rl.envs.text.token_generation:TokenGenerationEnv",
        "vector_entry_point": "aigc_rl.envs.text.token_generation:TokenGenerationVectorEnv",
    },
    "aigc_rl/DecodingControl-v0": {
        "entry_point": "aigc_rl.envs.text.decoding_control:DecodingControlEnv",
    },
    "aigc_rl/LatentImage-v0": {
        "entry_point": "aigc_rl.envs.image.latent_image:LatentImageEnv",
        "vector_entry_point": "aigc_rl.envs.image.latent_image:LatentImageVectorEnv",
    },
}

#: Every environment id aigc-rl registers.
ENV_IDS: tuple[str, ...] = tuple(_ENVS)

for _id, _kw in _ENVS.items():
    if _id not in registry:
        register(id=_id, **_kw)  # type: ignore[arg-type]
