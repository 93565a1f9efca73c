"""Saving and loading generator/classifier weights: ``model.safetensors`` + ``config.json``, never pickle.

A model directory holds exactly two files: the weights (safetensors, Hugging Face's format that stores raw
tensors and cannot run code on load) and ``config.json`` with ``kind`` (``gan`` | ``vae`` | ``classifier``),
``arch`` (constructor arguments) and the training record (data, split, seed, command, metrics). Shipped
models live in ``aigc_rl/data/digits/<name>/`` and are addressed by name: ``gan``, ``vae``, ``classifier``
(the reward model) and ``judge`` (the held-out evaluation classifier).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .classifier import DigitClassifier
from .gan import GAN
from .vae import VAE

__all__ = [
    "SHIPPED",
    "shipped_dir",
    "resolve_model_dir",
    "load_model",
    "save_model",
    "read_config",
    "KINDS",
    "StoredModel",
]

#: A model this module saves and loads: each has a class-level ``kind`` and an ``arch()`` record.
StoredModel = GAN | VAE | DigitClassifier

KINDS: dict[str, type[StoredModel]] = {"gan": GAN, "vae": VAE, "classifier": DigitClassifier}

#: Names of the models shipped in ``aigc_rl/data/digits/`` (8×8 scikit-learn digits).
SHIPPED = ("gan", "vae", "classifier", "judge")

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def shipped_dir(name: str) -> Path:
    """Directory of a shipped model (``gan``, ``vae``, ``classifier``, ``judge``).

    Raises:
        ValueError: unknown name.
    """
    if name not in SHIPPED:
        raise ValueError(
            f"no shipped model {name!r}; shipped: {', '.join(SHIPPED)} (or pass a model directory)"
        )
    return Path(str(resources.files("aigc_rl.data").joinpath("digits").joinpath(name)))


def resolve_model_dir(name_or_path: str | Path) -> Path:
    """A shipped name or a directory holding ``model.safetensors`` + ``config.json``.

    Raises:
        FileNotFoundError: neither a shipped name nor a model directory; the message says what is expected.
    """
    if isinstance(name_or_path, str) and name_or_path in SHIPPED:
        return shipped_dir(name_or_path)
    p = Path(name_or_path)
    if p.is_dir() and (p / WEIGHTS).is_file() and (p / CONFIG).is_file():
        return p
    raise FileNotFoundError(
        f"model {str(name_or_path)!r} is neither a shipped model ({', '.join(SHIPPED)}) nor a directory holding "
        f"{WEIGHTS} and {CONFIG}; train one with `aigc-rl pretrain gan|vae|classifier --output-dir DIR`"
    )


def read_config(name_or_path: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a model (shipped name or directory)."""
    return json.loads((resolve_model_dir(name_or_path) / CONFIG).read_text(encoding="utf-8"))


def save_model(model: StoredModel, output_dir: str | Path, record: dict[str, Any]) -> Path:
    """Write ``model.safetensors`` and ``config.json`` (``{"kind", "arch", **record}``) into ``output_dir``.

    Returns:
        ``output_dir`` as a Path.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS), metadata={"kind": model.kind, "format": "pt"})
    cfg = {"kind": model.kind, "arch": model.arch(), **record}
    (out / CONFIG).write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    return out


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu") -> StoredModel:
    """Load a GAN, VAE or classifier from safetensors + json (no unpickling), in eval mode.

    Args:
        name_or_path: ``gan`` | ``vae`` | ``classifier`` | ``judge`` (shipped 8×8 digits models) or a directory
            written by :func:`aigc_rl.generators.pretrain.pretrain`.
        device: torch device.

    Returns:
        The module (``GAN``, ``VAE`` or ``DigitClassifier``), ``requires_grad`` off.

    Raises:
        FileNotFoundError: see :func:`resolve_model_dir`.
        ValueError: the config names an unknown kind, or the weights do not match the architecture.
    """
    d = resolve_model_dir(name_or_path)
    cfg = json.loads((d / CONFIG).read_text(encoding="utf-8"))
    kind = cfg.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{str(d / CONFIG)!r}: unknown model kind {kind!r}; expected one of {sorted(KINDS)}")
    arch = dict(cfg.get("arch", {}))
    for k in ("image_shape", "g_hidden", "d_hidden", "hidden"):
        if isinstance(arch.get(k), list):
            arch[k] = tuple(arch[k])
    model = KINDS[kind](**arch)
    state = load_file(str(d / WEIGHTS), device="cpu")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(
            f"weights in {str(d / WEIGHTS)!r} do not match the architecture in config.json: {e}"
        ) from e
    model.eval().requires_grad_(False)
    return model.to(device)
