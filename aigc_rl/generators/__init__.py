"""Image generators on handwritten digits: GAN, VAE, digit classifiers, data loaders, pretraining.

The shipped 8×8 models (``aigc_rl/data/digits/``) load by name with :func:`load_model`: ``"gan"``,
``"vae"``, ``"classifier"`` (the reward model of the ``target-class`` reward) and ``"judge"`` (a classifier
of another architecture trained on disjoint data, used only for evaluation). Weights are safetensors;
nothing is unpickled. Training: :func:`aigc_rl.generators.pretrain.pretrain`.
"""

from __future__ import annotations

from .classifier import DigitClassifier
from .data import load_images, load_mnist, read_idx
from .gan import GAN
from .store import SHIPPED, load_model, read_config, resolve_model_dir, save_model
from .vae import VAE

__all__ = [
    "GAN",
    "VAE",
    "DigitClassifier",
    "SHIPPED",
    "load_model",
    "read_config",
    "resolve_model_dir",
    "save_model",
    "load_images",
    "load_mnist",
    "read_idx",
]
