"""Digit classifiers: the reward model of the ``target-class`` reward and the held-out judge.

Two architectures so that the judge of evaluation is not the model the policy was trained against:
``"mlp"`` (a two-hidden-layer perceptron, used as the reward model, trained on split ``a``) and ``"cnn"``
(two 3×3 convolutions in the LeNet tradition, LeCun et al. 1998, trained on the disjoint split ``b`` with
random one-pixel shifts as augmentation, used as the judge).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["DigitClassifier", "classifier_train_step", "random_shift"]

ARCHS = ("mlp", "cnn")


class DigitClassifier(nn.Module):
    """Image -> class logits.

    Args:
        arch: ``"mlp"`` or ``"cnn"``.
        image_shape: ``(H, W)``.
        n_classes: Number of classes (10 for digits).
        hidden: Width of the hidden layers (MLP) or of the dense layer after the convolutions (CNN).
        dropout: Dropout before the output layer (training only).

    Raises:
        ValueError: unknown ``arch``.
    """

    kind = "classifier"

    def __init__(
        self,
        arch: str = "mlp",
        image_shape: tuple[int, int] = (8, 8),
        n_classes: int = 10,
        hidden: int = 128,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown classifier arch {arch!r}; use one of {ARCHS}")
        self.arch_name = arch
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        self.n_classes = int(n_classes)
        n_pix = self.image_shape[0] * self.image_shape[1]
        if arch == "mlp":
            self.features: nn.Module = nn.Sequential(
                nn.Flatten(), nn.Linear(n_pix, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
            )
        else:
            self.features = nn.Sequential(
                nn.Unflatten(1, (1, *self.image_shape)),
                nn.Conv2d(1, 16, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(16, 32, 3, padding=1),
                nn.ReLU(),
                nn.AdaptiveAvgPool2d(4),
                nn.Flatten(),
                nn.Linear(32 * 16, hidden),
                nn.ReLU(),
            )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, self.n_classes))
        self._arch = {
            "arch": arch,
            "image_shape": list(self.image_shape),
            "n_classes": self.n_classes,
            "hidden": int(hidden),
            "dropout": float(dropout),
        }

    def arch(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable), stored in ``config.json``."""
        return dict(self._arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits float32 ``(N, n_classes)`` for images ``(N, H, W)`` in ``[0, 1]``."""
        return self.head(self.features(x.flatten(1)))

    @torch.no_grad()
    def probs(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (softmax), float32 ``(N, n_classes)``."""
        return torch.softmax(self.forward(x), dim=-1)


def random_shift(
    x: torch.Tensor, generator: torch.Generator | None = None, max_shift: int = 1
) -> torch.Tensor:
    """Shift each image by a random integer offset in ``[-max_shift, max_shift]`` per axis (zero fill).

    Args:
        x: float32 ``(B, H, W)``.

    Returns:
        Shifted images, same shape.
    """
    b, h, w = x.shape
    pad = F.pad(x, (max_shift, max_shift, max_shift, max_shift))
    off = torch.randint(0, 2 * max_shift + 1, (b, 2), generator=generator)
    rows = (torch.arange(h).view(1, h) + off[:, :1]).unsqueeze(2).expand(b, h, w)
    cols = (torch.arange(w).view(1, w) + off[:, 1:]).unsqueeze(1).expand(b, h, w)
    return pad[torch.arange(b).view(b, 1, 1), rows, cols]


def classifier_train_step(
    model: DigitClassifier,
    x: torch.Tensor,
    y: torch.Tensor,
    opt: torch.optim.Optimizer,
    augment: bool = False,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """One cross-entropy step on ``x`` float32 ``(B, H, W)``, labels ``y`` int64 ``(B,)``.

    Returns:
        ``{"loss": float, "acc": float}`` on this batch.
    """
    if augment:
        x = random_shift(x, generator)
    opt.zero_grad(set_to_none=True)
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    opt.step()
    return {"loss": float(loss.detach()), "acc": float((logits.argmax(1) == y).float().mean())}
