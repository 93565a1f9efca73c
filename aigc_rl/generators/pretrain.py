"""Train a GAN, VAE or digit classifier and write ``model.safetensors`` + ``config.json``.

Entry point of ``aigc-rl pretrain gan|vae|classifier`` and of ``python -m aigc_rl.generators.pretrain``.
The shipped models in ``aigc_rl/data/digits/`` were produced by this module; each ``config.json`` records
the seed, the command and the final metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from .classifier import DigitClassifier, classifier_train_step
from .data import dataset_name, load_images
from .gan import GAN, gan_train_step
from .store import CONFIG, WEIGHTS, save_model
from .vae import VAE, vae_train_step

__all__ = ["pretrain", "PRETRAIN_KINDS", "DEFAULTS", "main"]

#: ``judge`` is a convenience kind: a CNN classifier trained on split ``b`` with shift augmentation.
PRETRAIN_KINDS = ("gan", "vae", "classifier", "judge")

#: Per-kind defaults (epochs over the training split, batch size, learning rate, architecture, split).
DEFAULTS: dict[str, dict[str, Any]] = {
    "gan": {"epochs": 400, "batch_size": 64, "lr": 2e-4, "latent_dim": 8, "split": "all"},
    "vae": {"epochs": 300, "batch_size": 64, "lr": 1e-3, "latent_dim": 8, "split": "all"},
    "classifier": {"epochs": 60, "batch_size": 64, "lr": 1e-3, "arch": "mlp", "split": "a", "augment": False},
    "judge": {"epochs": 300, "batch_size": 64, "lr": 1e-3, "arch": "cnn", "split": "b", "augment": True},
}


def _eval_accuracy(model: DigitClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        acc = float((model(x).argmax(1) == y).float().mean())
    model.train()
    return acc


def _command(kind: str, data: str, output_dir: Path, epochs: int, seed: int, extra: dict[str, Any]) -> str:
    parts = [f"aigc-rl pretrain {kind}", f"--data {data}", f"--epochs {epochs}", f"--seed {seed}"]
    parts += [f"--{k.replace('_', '-')} {v}" for k, v in extra.items()]
    parts.append(f"--output-dir {output_dir.as_posix()}")
    return " ".join(parts)


def pretrain(
    kind: str,
    data: str | Path = "digits",
    output_dir: str | Path | None = None,
    epochs: int | None = None,
    seed: int = 0,
    progress: bool = True,
    *,
    overwrite: bool = False,
    latent_dim: int | None = None,
    arch: str | None = None,
    split: str | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
) -> Path:
    """Train one model on handwritten digits and save it (safetensors weights + json config).

    Args:
        kind: ``"gan"`` (Goodfellow et al. 2014), ``"vae"`` (Kingma & Welling 2014), ``"classifier"`` (MLP
            reward model, split ``a``) or ``"judge"`` (CNN held-out judge, split ``b``, shift augmentation).
        data: ``"digits"`` (scikit-learn's 1,797 8×8 digits) or a directory holding MNIST IDX files.
        output_dir: Where to write ``model.safetensors`` and ``config.json``; default
            ``runs/pretrain-<kind>-<data>``.
        epochs: Passes over the training split; default per kind (:data:`DEFAULTS`).
        seed: Seeds torch (weights, batches, latents); recorded in the config.
        progress: Show a tqdm progress bar.
        overwrite: Replace an existing model in ``output_dir``.
        latent_dim: Latent size for ``gan``/``vae``.
        arch: ``"mlp"`` or ``"cnn"`` for classifiers.
        split: Training split (``all`` / ``a`` / ``b``); classifiers report accuracy on the other half.
        batch_size: Minibatch size.
        lr: Adam learning rate.

    Returns:
        ``output_dir`` as a Path.

    Raises:
        ValueError: unknown kind, non-positive epochs, or a model already in ``output_dir`` without overwrite.
        FileNotFoundError: MNIST files missing (see :func:`aigc_rl.generators.data.load_mnist`).
    """
    if kind not in PRETRAIN_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; use one of {', '.join(PRETRAIN_KINDS)}")
    hp = dict(DEFAULTS[kind])
    for k, v in {
        "epochs": epochs,
        "latent_dim": latent_dim,
        "arch": arch,
        "split": split,
        "batch_size": batch_size,
        "lr": lr,
    }.items():
        if v is not None:
            if k in ("latent_dim", "arch") and k not in hp:
                raise ValueError(f"option {k!r} does not apply to kind {kind!r}")
            hp[k] = v
    if int(hp["epochs"]) < 1:
        raise ValueError(f"epochs must be >= 1, got {hp['epochs']}")
    data_s = str(data)
    out = (
        Path(output_dir)
        if output_dir is not None
        else Path("runs") / f"pretrain-{kind}-{dataset_name(data_s)}"
    )
    if (out / WEIGHTS).exists() and not overwrite:
        raise ValueError(
            f"{str(out)!r} already holds a model ({WEIGHTS}); pass overwrite=True (--overwrite) or another output dir"
        )

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x_np, y_np = load_images(data_s, hp["split"])
    x = torch.from_numpy(x_np)
    y = torch.from_numpy(y_np)
    image_shape = (int(x.shape[1]), int(x.shape[2]))
    n = len(x)
    bs = int(hp["batch_size"])
    steps_per_epoch = max(1, n // bs)
    total = int(hp["epochs"]) * steps_per_epoch

    if kind == "gan":
        big = image_shape[0] * image_shape[1] > 256
        model: Any = GAN(
            latent_dim=int(hp["latent_dim"]),
            image_shape=image_shape,
            g_hidden=(256, 512) if big else (128, 256),
            d_hidden=(512, 256) if big else (256, 128),
        )
        opt_g = torch.optim.Adam(model.generator.parameters(), lr=float(hp["lr"]), betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=float(hp["lr"]), betas=(0.5, 0.999))
    elif kind == "vae":
        big = image_shape[0] * image_shape[1] > 256
        model = VAE(
            latent_dim=int(hp["latent_dim"]),
            image_shape=image_shape,
            hidden=(512, 256) if big else (256, 128),
        )
        opt = torch.optim.Adam(model.parameters(), lr=float(hp["lr"]))
    else:
        model = DigitClassifier(
            arch=str(hp["arch"]), image_shape=image_shape, hidden=128 if hp["arch"] == "mlp" else 64
        )
        opt = torch.optim.Adam(model.parameters(), lr=float(hp["lr"]), weight_decay=1e-4)
    model.train()

    t0 = time.time()
    last: dict[str, float] = {}
    bar = tqdm(total=total, desc=f"pretrain {kind}", disable=not progress, unit="step")
    for _epoch in range(int(hp["epochs"])):
        perm = torch.randperm(n, generator=gen)
        for s in range(steps_per_epoch):
            idx = perm[s * bs : (s + 1) * bs]
            if kind == "gan":
                last = gan_train_step(model, x[idx], opt_g, opt_d, gen)
            elif kind == "vae":
                last = vae_train_step(model, x[idx], opt, gen)
            else:
                last = classifier_train_step(
                    model, x[idx], y[idx], opt, augment=bool(hp["augment"]), generator=gen
                )
            bar.update(1)
        bar.set_postfix({k: f"{v:.3f}" for k, v in last.items()})
    bar.close()
    model.eval()

    metrics: dict[str, float] = {k: round(v, 5) for k, v in last.items()}
    metrics["train_seconds"] = round(time.time() - t0, 1)
    if kind in ("classifier", "judge") and hp["split"] in ("a", "b"):
        other = "b" if hp["split"] == "a" else "a"
        xo, yo = load_images(data_s, other)
        metrics[f"accuracy_split_{other}"] = round(
            _eval_accuracy(model, torch.from_numpy(xo), torch.from_numpy(yo)), 5
        )
        metrics[f"accuracy_split_{hp['split']}"] = round(_eval_accuracy(model, x, y), 5)
    if kind == "vae":
        with torch.no_grad():
            metrics["recon_mse"] = round(float(((model.reconstruct(x) - x) ** 2).mean()), 6)

    # options that differ from the kind's defaults (the defaults are implied by the command)
    extra: dict[str, Any] = {
        k: hp[k]
        for k in ("latent_dim", "arch", "split", "batch_size", "lr")
        if k in hp and hp[k] != DEFAULTS[kind][k]
    }
    record = {
        "trained_as": kind,
        "data": dataset_name(data_s),
        "data_path": None if data_s == "digits" else str(Path(data_s).resolve()),
        "split": hp["split"],
        "n_train": n,
        "seed": seed,
        "epochs": int(hp["epochs"]),
        "steps": total,
        "batch_size": bs,
        "lr": float(hp["lr"]),
        "command": _command(kind, data_s, out, int(hp["epochs"]), seed, extra),
        "torch": torch.__version__,
        "metrics": metrics,
    }
    if kind in ("classifier", "judge"):
        record["augment"] = bool(hp["augment"])
    save_model(model, out, record)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m aigc_rl.generators.pretrain KIND [--data ...]`` (same options as ``aigc-rl pretrain``)."""
    p = argparse.ArgumentParser(prog="aigc-rl pretrain", description=__doc__.splitlines()[0])
    p.add_argument("kind", choices=PRETRAIN_KINDS)
    p.add_argument("--data", default="digits", help="'digits' or a directory with MNIST IDX files")
    p.add_argument("--output-dir", default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--latent-dim", type=int, default=None)
    p.add_argument("--arch", choices=("mlp", "cnn"), default=None)
    p.add_argument("--split", choices=("all", "a", "b"), default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    out = pretrain(
        a.kind,
        data=a.data,
        output_dir=a.output_dir,
        epochs=a.epochs,
        seed=a.seed,
        progress=not a.no_progress,
        overwrite=a.overwrite,
        latent_dim=a.latent_dim,
        arch=a.arch,
        split=a.split,
        batch_size=a.batch_size,
        lr=a.lr,
    )
    cfg = json.loads((out / CONFIG).read_text(encoding="utf-8"))
    print(json.dumps({"output_dir": str(out), "metrics": cfg["metrics"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
