"""A fully connected GAN for small grey-scale images (8×8 digits, 28×28 MNIST), trained correctly.

Goodfellow et al. 2014, "Generative Adversarial Nets", with the non-saturating generator loss of that paper
(section 3) and the Adam settings of Radford et al. 2016 (DCGAN: lr 2e-4, beta1 0.5). The seed article's
version shared one loss between the two networks and never stepped its optimisers; here the discriminator
and the generator each have their own loss and their own optimiser, and both are stepped every iteration.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["Generator", "Discriminator", "GAN", "gan_train_step"]


def _mlp(sizes: list[int], act: nn.Module, dropout: float = 0.0) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        layers.append(act)
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return layers


class Generator(nn.Module):
    """``G: z -> image``. Latent ``z`` float32 ``(N, latent_dim)`` (prior N(0, I)) -> ``(N, H, W)`` in ``[0, 1]``."""

    def __init__(
        self, latent_dim: int, image_shape: tuple[int, int], hidden: tuple[int, ...] = (128, 256)
    ) -> None:
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        n_pix = self.image_shape[0] * self.image_shape[1]
        self.net = nn.Sequential(
            *_mlp([self.latent_dim, *hidden], nn.LeakyReLU(0.2)), nn.Linear(hidden[-1], n_pix), nn.Sigmoid()
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.image_shape)


class Discriminator(nn.Module):
    """``D: image -> logit`` of "real". Input ``(N, H, W)`` in ``[0, 1]``, output float32 ``(N,)`` logits."""

    def __init__(
        self, image_shape: tuple[int, int], hidden: tuple[int, ...] = (256, 128), dropout: float = 0.3
    ) -> None:
        super().__init__()
        n_pix = int(image_shape[0]) * int(image_shape[1])
        self.net = nn.Sequential(
            *_mlp([n_pix, *hidden], nn.LeakyReLU(0.2), dropout), nn.Linear(hidden[-1], 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)


class GAN(nn.Module):
    """Generator + discriminator pair; :meth:`generate` is the generator used by the latent-space env.

    Args:
        latent_dim: Size of the latent vector ``z`` (prior ``N(0, I)``).
        image_shape: ``(H, W)``.
        g_hidden: Hidden widths of the generator MLP.
        d_hidden: Hidden widths of the discriminator MLP.
        d_dropout: Dropout in the discriminator (training only).
    """

    kind = "gan"

    def __init__(
        self,
        latent_dim: int = 8,
        image_shape: tuple[int, int] = (8, 8),
        g_hidden: tuple[int, ...] = (128, 256),
        d_hidden: tuple[int, ...] = (256, 128),
        d_dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        self.generator = Generator(latent_dim, self.image_shape, tuple(g_hidden))
        self.discriminator = Discriminator(self.image_shape, tuple(d_hidden), d_dropout)
        self._arch = {
            "latent_dim": self.latent_dim,
            "image_shape": list(self.image_shape),
            "g_hidden": list(g_hidden),
            "d_hidden": list(d_hidden),
            "d_dropout": float(d_dropout),
        }

    def arch(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable), stored in ``config.json``."""
        return dict(self._arch)

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images for latents ``z`` float32 ``(N, latent_dim)``: float32 ``(N, H, W)`` in ``[0, 1]``."""
        return self.generator(z)

    @torch.no_grad()
    def realism(self, x: torch.Tensor) -> torch.Tensor:
        """Discriminator probability that each image is real, float32 ``(N,)`` in ``[0, 1]``."""
        return torch.sigmoid(self.discriminator(x))


def gan_train_step(
    gan: GAN,
    real: torch.Tensor,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """One GAN iteration: a discriminator update, then a generator update, each with its own loss/optimiser.

    Discriminator loss (Goodfellow et al. 2014, eq. 1): ``BCE(D(x), 1) + BCE(D(G(z)), 0)`` with ``G(z)``
    detached so that only D's parameters get gradients. Generator loss (non-saturating form, same paper):
    ``BCE(D(G(z)), 1)``, stepped only on G's parameters (D's gradients from this pass are discarded by
    ``opt_d.zero_grad`` before its next use).

    Args:
        gan: The model (put in train mode by the caller).
        real: A batch of real images, float32 ``(B, H, W)`` in ``[0, 1]``.
        opt_g: Optimiser over ``gan.generator.parameters()`` only.
        opt_d: Optimiser over ``gan.discriminator.parameters()`` only.
        generator: torch RNG for the latent samples (seeded training).

    Returns:
        ``{"loss_d": float, "loss_g": float, "d_real": float, "d_fake": float}`` (mean D probabilities).
    """
    b = real.shape[0]
    ones = torch.ones(b)
    zeros = torch.zeros(b)
    z = torch.randn(b, gan.latent_dim, generator=generator)
    fake = gan.generator(z)

    opt_d.zero_grad(set_to_none=True)
    logit_real = gan.discriminator(real)
    logit_fake = gan.discriminator(fake.detach())
    loss_d = F.binary_cross_entropy_with_logits(logit_real, ones) + F.binary_cross_entropy_with_logits(
        logit_fake, zeros
    )
    loss_d.backward()
    opt_d.step()

    opt_g.zero_grad(set_to_none=True)
    loss_g = F.binary_cross_entropy_with_logits(gan.discriminator(fake), ones)
    loss_g.backward()
    opt_g.step()
    opt_d.zero_grad(set_to_none=True)  # the G pass also wrote into D's .grad; drop it
    return {
        "loss_d": float(loss_d.detach()),
        "loss_g": float(loss_g.detach()),
        "d_real": float(torch.sigmoid(logit_real.detach()).mean()),
        "d_fake": float(torch.sigmoid(logit_fake.detach()).mean()),
    }
