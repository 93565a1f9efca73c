"""Image meaning of the reward presets (``--reward quality+creativity`` on the image env).

Kept in its own module so that it can move beside the text presets in ``aigc_rl.rewards`` with one import
changed.
"""

from __future__ import annotations

from aigc_rl.envs.image.latent_image import DEFAULT_REWARD
from aigc_rl.errors import ConfigError

__all__ = ["IMAGE_PRESETS", "image_reward_pairs", "image_reward_spec"]

#: Image meaning of the preset names.
IMAGE_PRESETS: dict[str, list[tuple[str, float]]] = {
    "quality": [("target-class", 1.0), ("realism", 5.0)],
    "creativity": [("image-diversity", 3.0)],
}


def image_reward_pairs(spec: str | None) -> list[tuple[str, float]]:
    """``[(component, weight)]`` for an image reward spec; ``quality`` / ``creativity`` mean their image versions.

    Args:
        spec: A reward spec such as ``"quality+creativity"`` or ``"target-class:1+image-diversity:0.5"``;
            ``None`` gives :data:`~aigc_rl.envs.image.latent_image.DEFAULT_REWARD`.

    Returns:
        The components and their weights, in spec order.

    Raises:
        ConfigError: the ``safety`` preset (no image safety reward exists).
        ValueError: empty spec, bad weight or a component named twice (from
            :func:`aigc_rl.rewards.composite.parse_spec`).
    """
    from aigc_rl.rewards.composite import parse_spec

    spec = DEFAULT_REWARD if spec is None else spec
    if isinstance(spec, str) and any(
        i.partition(":")[0].strip() == "safety" for i in spec.replace(",", "+").split("+")
    ):
        raise ConfigError(
            "the 'safety' preset has no image reward; use target-class, realism, image-diversity, "
            "class-coverage, image-novelty (--reward)"
        )
    return parse_spec(spec, presets=IMAGE_PRESETS)


def image_reward_spec(spec: str | None) -> str:
    """The canonical ``name:weight+...`` form of an image reward spec (what a run records)."""
    return "+".join(f"{n}:{w:g}" for n, w in image_reward_pairs(spec))
