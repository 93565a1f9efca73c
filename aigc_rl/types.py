"""Structural types (``typing.Protocol``) for the models that aigc-rl passes around.

The code accepts any object with the right shape rather than one class: a ``transformers`` causal LM, a PEFT
model wrapping one, or the tiny test model of :mod:`aigc_rl.testing` are all :class:`CausalLM`; the shipped
GAN and VAE decoders, or a user's own ``nn.Module``, are all :class:`ImageGenerator`. These protocols name
what the code relies on, so a type checker can follow models through the envs, agents and rewards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import torch

__all__ = ["CausalLM", "ImageGenerator"]


class CausalLM(Protocol):
    """A decoder-only language model called as in ``transformers``.

    Attributes:
        config: The model's ``transformers.PretrainedConfig`` (``hidden_size``, ``get_text_config()``, ...).
        device: The device of its parameters.
    """

    config: Any

    @property
    def device(self) -> torch.device:
        """Device of the model's parameters."""
        ...

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Forward pass: keyword inputs ``input_ids``/``attention_mask``/``position_ids`` (long ``(batch,
        seq)``) and cache arguments; returns an output with ``logits`` float ``(batch, seq, vocab)``."""
        ...

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The same forward pass; its signature tells which cache keywords the model accepts."""
        ...

    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]:
        """The model's parameters (their device is the model's device)."""
        ...

    def eval(self) -> Any:
        """Switch to evaluation mode (``torch.nn.Module.eval``); returns the model."""
        ...

    def requires_grad_(self, requires_grad: bool = True) -> Any:
        """Turn gradients of every parameter on or off (``torch.nn.Module.requires_grad_``); returns the model."""
        ...


@runtime_checkable
class ImageGenerator(Protocol):
    """A latent-to-image decoder (the generator of a GAN, the decoder of a VAE).

    Attributes:
        latent_dim: Size ``d`` of a latent vector.
        image_shape: ``(H, W)`` of a generated image.
    """

    @property
    def latent_dim(self) -> int: ...

    @property
    def image_shape(self) -> tuple[int, ...]: ...

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images float ``(n, H, W)`` with values in ``[0, 1]`` for latents float32 ``(n, latent_dim)``."""
        ...
