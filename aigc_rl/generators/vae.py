"""A fully connected variational autoencoder for small grey-scale images.

Kingma & Welling 2014, "Auto-Encoding Variational Bayes": Gaussian encoder ``q(z|x) = N(mu(x), diag(sigma²(x)))``,
standard-normal prior, Bernoulli decoder (binary cross-entropy on pixel intensities in ``[0, 1]``), trained on
the negative ELBO with the reparameterisation trick. The decoder is the generator the latent-space env drives;
the reconstruction error is a "distance to the data manifold" used by the ``realism`` reward.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["VAE", "vae_loss", "vae_train_step"]


class VAE(nn.Module):
    """Encoder ``x -> (mu, logvar)`` and decoder ``z -> x``.

    Args:
        latent_dim: Size of ``z``.
        image_shape: ``(H, W)``.
        hidden: Hidden widths of the encoder MLP (the decoder mirrors them).
    """

    kind = "vae"

    def __init__(
        self, latent_dim: int = 8, image_shape: tuple[int, int] = (8, 8), hidden: tuple[int, ...] = (256, 128)
    ) -> None:
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        n_pix = self.image_shape[0] * self.image_shape[1]
        enc: list[nn.Module] = []
        sizes = [n_pix, *hidden]
        for i in range(len(sizes) - 1):
            enc += [nn.Linear(sizes[i], sizes[i + 1]), nn.ReLU()]
        self.encoder = nn.Sequential(*enc)
        self.mu = nn.Linear(sizes[-1], self.latent_dim)
        self.logvar = nn.Linear(sizes[-1], self.latent_dim)
        dec: list[nn.Module] = []
        rsizes = [self.latent_dim, *reversed(hidden)]
        for i in range(len(rsizes) - 1):
            dec += [nn.Linear(rsizes[i], rsizes[i + 1]), nn.ReLU()]
        self.decoder = nn.Sequential(*dec, nn.Linear(rsizes[-1], n_pix))
        self._arch = {
            "latent_dim": self.latent_dim,
            "image_shape": list(self.image_shape),
            "hidden": list(hidden),
        }

    def arch(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable), stored in ``config.json``."""
        return dict(self._arch)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)``, each float32 ``(N, latent_dim)``, for images ``(N, H, W)``."""
        h = self.encoder(x.flatten(1))
        return self.mu(h), self.logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of the pixels, ``(N, H, W)``."""
        return self.decoder(z).view(-1, *self.image_shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Mean image ``sigmoid(logits)``, float32 ``(N, H, W)`` in ``[0, 1]``."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        """Reparameterised pass: returns ``(logits (N, H, W), mu, logvar)``."""
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator)
        z = mu + torch.exp(0.5 * logvar) * eps
        return self.decode_logits(z), mu, logvar

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images for latents ``z`` float32 ``(N, latent_dim)``: float32 ``(N, H, W)`` in ``[0, 1]``."""
        return self.decode(z)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic reconstruction ``decode(mu(x))``, ``(N, H, W)`` in ``[0, 1]``."""
        mu, _ = self.encode(x)
        return self.decode(mu)


def vae_loss(
    logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Negative ELBO per image, averaged over the batch (Kingma & Welling 2014, eq. 10).

    Returns:
        ``(loss, reconstruction, kl)``: scalars; reconstruction = summed pixel BCE, kl = ``KL(q(z|x) || N(0, I))``.
    """
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
    return rec + beta * kl, rec, kl


def vae_train_step(
    vae: VAE,
    x: torch.Tensor,
    opt: torch.optim.Optimizer,
    generator: torch.Generator | None = None,
    beta: float = 1.0,
) -> dict[str, float]:
    """One optimiser step on the negative ELBO of batch ``x`` (float32 ``(B, H, W)`` in ``[0, 1]``).

    Returns:
        ``{"loss": float, "rec": float, "kl": float}``.
    """
    opt.zero_grad(set_to_none=True)
    logits, mu, logvar = vae(x, generator=generator)
    loss, rec, kl = vae_loss(logits, x, mu, logvar, beta)
    loss.backward()
    opt.step()
    return {"loss": float(loss.detach()), "rec": float(rec.detach()), "kl": float(kl.detach())}
