"""Train a GAN, VAE or digit classifier and write ``model.safetensors`` + ``config.json``.

Entry point of ``aigc-rl pretrain gan|vae|classifier`` and of ``python -m aigc_rl.generators.pretrain``.
The shipped models in ``aigc_rl/data/digits/`` were produced by this module; each ``config.json`` records
the seed, the command and the final metrics.

Transfer (``--init DIR``): a GAN or VAE starts from the weights of an earlier one (a shipped model or a
directory this module wrote; for a GAN both the generator and the discriminator) and is fine-tuned on new
images — a subset of the digit classes (``--classes 3,5,8``), MNIST IDX files or an ``.npz`` file — with
fewer epochs and a lower learning rate by default (:data:`FINETUNE_DEFAULTS`). The output ``config.json``
records ``init`` (its path and its config) so that the lineage is known; the init directory is only read.
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

from ..errors import ConfigError, ModelNotFoundError, UserFileError
from .classifier import DigitClassifier, classifier_train_step
from .data import dataset_name, load_images, parse_classes, resize_images, select_classes
from .gan import GAN, gan_train_step
from .store import CONFIG, SHIPPED, WEIGHTS, load_model, save_model, shipped_dir
from .vae import VAE, vae_train_step

__all__ = ["pretrain", "load_init", "PRETRAIN_KINDS", "DEFAULTS", "FINETUNE_DEFAULTS", "main"]

#: ``judge`` is a convenience kind: a CNN classifier trained on split ``b`` with shift augmentation.
PRETRAIN_KINDS = ("gan", "vae", "classifier", "judge")

#: Per-kind defaults (epochs over the training split, batch size, learning rate, architecture, split).
DEFAULTS: dict[str, dict[str, Any]] = {
    "gan": {"epochs": 400, "batch_size": 64, "lr": 2e-4, "latent_dim": 8, "split": "all"},
    "vae": {"epochs": 300, "batch_size": 64, "lr": 1e-3, "latent_dim": 8, "split": "all"},
    "classifier": {"epochs": 60, "batch_size": 64, "lr": 1e-3, "arch": "mlp", "split": "a", "augment": False},
    "judge": {"epochs": 300, "batch_size": 64, "lr": 1e-3, "arch": "cnn", "split": "b", "augment": True},
}

#: Defaults that differ when fine-tuning from ``init`` (fewer epochs, a lower learning rate).
FINETUNE_DEFAULTS: dict[str, dict[str, Any]] = {
    "gan": {"epochs": 100, "lr": 1e-4},
    "vae": {"epochs": 100, "lr": 3e-4},
}


def load_init(kind: str, init: str | Path) -> tuple[GAN | VAE, Path, dict[str, Any]]:
    """The model a fine-tuning run starts from, checked against ``kind``.

    Args:
        kind: ``"gan"`` or ``"vae"``.
        init: ``"shipped"`` (the shipped model of that kind), a shipped name (``gan``, ``vae``) or a directory
            holding ``model.safetensors`` + ``config.json`` written by :func:`pretrain`.

    Returns:
        ``(model in train mode with gradients on, resolved directory, its config)``.

    Raises:
        ConfigError: ``kind`` cannot be fine-tuned, or the directory holds a model of another kind.
        ModelNotFoundError: no such directory, or it lacks ``model.safetensors`` / ``config.json``.
        UserFileError: the config or the weights cannot be read or do not match each other.
    """
    if kind not in FINETUNE_DEFAULTS:
        raise ConfigError(f"--init applies to gan and vae only, not {kind!r}; drop --init")
    name = kind if str(init) == "shipped" else str(init)
    d = shipped_dir(name) if name in SHIPPED else Path(name)
    where = f"--init {str(init)!r}"
    if not d.is_dir():
        raise ModelNotFoundError(
            f"{where}: no such directory; give a model directory written by `aigc-rl pretrain {kind}` or "
            "'shipped'"
        )
    missing = [f for f in (WEIGHTS, CONFIG) if not (d / f).is_file()]
    if missing:
        raise ModelNotFoundError(
            f"{where} holds no {' or '.join(missing)}; give a model directory written by `aigc-rl pretrain "
            f"{kind}` or 'shipped'"
        )
    try:
        cfg = json.loads((d / CONFIG).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserFileError(f"{where}: {CONFIG} is not readable JSON ({e}); re-create the model") from e
    if not isinstance(cfg, dict) or not isinstance(cfg.get("arch"), dict):
        raise UserFileError(
            f"{where}: {CONFIG} has no 'arch' record; re-create the model with aigc-rl pretrain"
        )
    if cfg.get("kind") != kind:
        raise ConfigError(
            f"{where} holds a {cfg.get('kind')!r} model, not a {kind!r}; use `aigc-rl pretrain "
            f"{cfg.get('kind')} --init ...` or a {kind} directory"
        )
    try:
        model = load_model(d)
    except Exception as e:  # noqa: BLE001 - shape mismatch, bad arch values, truncated safetensors
        msg = " ".join(str(e).split())[:300]
        raise UserFileError(
            f"{where}: cannot load the model ({type(e).__name__}: {msg}); re-create it"
        ) from e
    assert isinstance(model, GAN | VAE)
    model.requires_grad_(True).train()
    return model, d.resolve(), cfg


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
    init: str | Path | None = None,
    classes: str | list[int] | tuple[int, ...] | None = None,
) -> Path:
    """Train one model on handwritten digits and save it (safetensors weights + json config).

    Args:
        kind: ``"gan"`` (Goodfellow et al. 2014), ``"vae"`` (Kingma & Welling 2014), ``"classifier"`` (MLP
            reward model, split ``a``) or ``"judge"`` (CNN held-out judge, split ``b``, shift augmentation).
        data: ``"digits"`` (scikit-learn's 1,797 8×8 digits), a directory holding MNIST IDX files or a ``.npz``
            file of images (:func:`aigc_rl.generators.data.load_npz`).
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
        init: Fine-tune (``gan``/``vae`` only) from this model: ``"shipped"``, a shipped name or a model
            directory (:func:`load_init`); the architecture is the init's, images of another size are shrunk to
            it (:func:`aigc_rl.generators.data.resize_images`), and the epochs / learning rate default to
            :data:`FINETUNE_DEFAULTS`. ``output_dir`` must not be the init directory.
        classes: Keep only images of these digit classes (``"3,5,8"`` or a list); needs labelled data.

    Returns:
        ``output_dir`` as a Path.

    Raises:
        ConfigError: unknown kind, non-positive epochs, a model already in ``output_dir`` without overwrite,
            ``output_dir`` inside the init directory, an architecture option that differs from the init's, bad
            ``classes``. Nothing is written.
        ModelNotFoundError / UserFileError: a missing or damaged init model or data file.
        FileNotFoundError: MNIST files missing (see :func:`aigc_rl.generators.data.load_mnist`).
    """
    if kind not in PRETRAIN_KINDS:
        raise ConfigError(f"unknown model kind {kind!r}; use one of {', '.join(PRETRAIN_KINDS)}")
    init_model: GAN | VAE | None = None
    init_dir: Path | None = None
    init_cfg: dict[str, Any] = {}
    if init is not None:
        init_model, init_dir, init_cfg = load_init(kind, init)
        if latent_dim is not None and latent_dim != init_model.latent_dim:
            raise ConfigError(
                f"--latent-dim {latent_dim} differs from the init model's latent size {init_model.latent_dim}; "
                "fine-tuning keeps the init's architecture: drop --latent-dim"
            )
    hp = dict(DEFAULTS[kind])
    if init_model is not None:
        hp.update(FINETUNE_DEFAULTS[kind])
    class_list = parse_classes(classes) if classes is not None else None
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
                raise ConfigError(f"option {k!r} does not apply to kind {kind!r}")
            hp[k] = v
    if int(hp["epochs"]) < 1:
        raise ConfigError(f"epochs must be >= 1, got {hp['epochs']}")
    if float(hp["lr"]) <= 0:
        raise ConfigError(f"--lr must be > 0, got {hp['lr']}")
    data_s = str(data)
    out = (
        Path(output_dir)
        if output_dir is not None
        else Path("runs") / f"pretrain-{kind}-{dataset_name(data_s)}"
    )
    if init_dir is not None and (out.resolve() == init_dir or init_dir in out.resolve().parents):
        raise ConfigError(
            f"--output-dir {str(out)!r} is inside the init model's directory {str(init_dir)!r}, which "
            "fine-tuning never modifies; pick another --output-dir"
        )
    if (out / WEIGHTS).exists() and not overwrite:
        raise ConfigError(
            f"{str(out)!r} already holds a model ({WEIGHTS}); pass overwrite=True (--overwrite) or another output dir"
        )

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x_np, y_np = load_images(data_s, hp["split"])
    if class_list is not None:
        x_np, y_np = select_classes(x_np, y_np, class_list, f"--data {data_s!r}")
    if kind in ("classifier", "judge") and bool((y_np < 0).any()):
        raise ConfigError(f"--data {data_s!r} has no labels; a {kind} needs a 'labels' array in the NPZ file")
    if init_model is not None:
        x_np = resize_images(x_np, init_model.image_shape)
    x = torch.from_numpy(x_np)
    y = torch.from_numpy(y_np)
    image_shape = (int(x.shape[1]), int(x.shape[2]))
    n = len(x)
    bs = int(hp["batch_size"])
    steps_per_epoch = max(1, n // bs)
    total = int(hp["epochs"]) * steps_per_epoch

    if init_model is not None:
        model: Any = init_model
        if kind == "gan":
            opt_g = torch.optim.Adam(model.generator.parameters(), lr=float(hp["lr"]), betas=(0.5, 0.999))
            opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=float(hp["lr"]), betas=(0.5, 0.999))
        else:
            opt = torch.optim.Adam(model.parameters(), lr=float(hp["lr"]))
    elif kind == "gan":
        big = image_shape[0] * image_shape[1] > 256
        model = GAN(
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
    base = {**DEFAULTS[kind], **(FINETUNE_DEFAULTS[kind] if init_model is not None else {})}
    extra: dict[str, Any] = {
        k: hp[k]
        for k in ("latent_dim", "arch", "split", "batch_size", "lr")
        if k in hp and hp[k] != base[k] and not (k == "latent_dim" and init_model is not None)
    }
    if class_list is not None:
        extra["classes"] = ",".join(map(str, class_list))
    if init is not None:
        extra["init"] = str(init)
    record = {
        "trained_as": kind,
        "data": dataset_name(data_s),
        "data_path": None if data_s == "digits" else str(Path(data_s).resolve()),
        "classes": list(class_list) if class_list is not None else None,
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
    if init_dir is not None:
        record["init"] = {
            "path": str(init_dir),
            "shipped": kind if str(init) == "shipped" or str(init) in SHIPPED else None,
            "config": init_cfg,
        }
    save_model(model, out, record)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m aigc_rl.generators.pretrain KIND [--data ...]`` (same options as ``aigc-rl pretrain``)."""
    p = argparse.ArgumentParser(prog="aigc-rl pretrain", description=__doc__.splitlines()[0])
    p.add_argument("kind", choices=PRETRAIN_KINDS)
    p.add_argument(
        "--data", default="digits", help="'digits', a directory with MNIST IDX files, or FILE.npz of images"
    )
    p.add_argument("--init", default=None, help="fine-tune a gan/vae from 'shipped' or a model directory")
    p.add_argument("--classes", default=None, help="keep only these digit classes, e.g. 3,5,8")
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
        init=a.init,
        classes=a.classes,
    )
    cfg = json.loads((out / CONFIG).read_text(encoding="utf-8"))
    print(json.dumps({"output_dir": str(out), "metrics": cfg["metrics"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
