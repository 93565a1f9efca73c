"""GAN / VAE / classifier training steps, safetensors round trip, shipped models, IDX reader."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from aigc_rl.generators import SHIPPED, load_model, read_config
from aigc_rl.generators.classifier import DigitClassifier, classifier_train_step, random_shift
from aigc_rl.generators.data import load_images, load_mnist, read_idx, split_indices
from aigc_rl.generators.gan import GAN, gan_train_step
from aigc_rl.generators.pretrain import pretrain
from aigc_rl.generators.store import resolve_model_dir, save_model
from aigc_rl.generators.vae import VAE, vae_loss, vae_train_step


def _params(m: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in m.parameters()]


def _changed(before: list[torch.Tensor], m: torch.nn.Module) -> bool:
    return all(not torch.equal(b, a) for b, a in zip(before, m.parameters(), strict=True))


def test_gan_step_updates_generator_and_discriminator_with_separate_losses():
    """One GAN iteration changes every G and every D tensor; each optimiser only holds its own network."""
    torch.manual_seed(0)
    gan = GAN(latent_dim=4, image_shape=(8, 8), g_hidden=(16,), d_hidden=(16,))
    opt_g = torch.optim.Adam(gan.generator.parameters(), lr=1e-2)
    opt_d = torch.optim.Adam(gan.discriminator.parameters(), lr=1e-2)
    g0, d0 = _params(gan.generator), _params(gan.discriminator)
    real = torch.rand(16, 8, 8)
    out = gan_train_step(gan, real, opt_g, opt_d, torch.Generator().manual_seed(0))
    assert _changed(g0, gan.generator), "generator parameters did not change"
    assert _changed(d0, gan.discriminator), "discriminator parameters did not change"
    assert set(out) == {"loss_d", "loss_g", "d_real", "d_fake"}
    # At initialisation D is near chance: loss_d ~ 2 log 2, loss_g ~ log 2 (Goodfellow et al. 2014).
    assert out["loss_d"] == pytest.approx(2 * np.log(2), abs=0.2)
    assert out["loss_g"] == pytest.approx(np.log(2), abs=0.2)
    assert all(p.grad is None for p in gan.discriminator.parameters()), (
        "G's pass must not leave gradients in D"
    )


def test_gan_discriminator_loss_uses_detached_fakes():
    """The D update must not move G: with opt_g lr=0 the generator is unchanged while D changes."""
    torch.manual_seed(1)
    gan = GAN(latent_dim=4, image_shape=(8, 8), g_hidden=(16,), d_hidden=(16,))
    opt_g = torch.optim.SGD(gan.generator.parameters(), lr=0.0)
    opt_d = torch.optim.SGD(gan.discriminator.parameters(), lr=0.1)
    g0, d0 = _params(gan.generator), _params(gan.discriminator)
    gan_train_step(gan, torch.rand(8, 8, 8), opt_g, opt_d)
    assert all(torch.equal(b, a) for b, a in zip(g0, gan.generator.parameters(), strict=True))
    assert _changed(d0, gan.discriminator)


def test_vae_step_changes_parameters_and_loss_matches_hand_computation():
    torch.manual_seed(0)
    vae = VAE(latent_dim=2, image_shape=(4, 4), hidden=(8,))
    opt = torch.optim.Adam(vae.parameters(), lr=1e-2)
    before = _params(vae)
    out = vae_train_step(vae, torch.rand(5, 4, 4), opt, torch.Generator().manual_seed(0))
    assert _changed(before, vae)
    assert out["loss"] == pytest.approx(out["rec"] + out["kl"], rel=1e-5)
    # Hand case: logits 0 -> BCE = log 2 per pixel; mu = 0, logvar = 0 -> KL = 0.
    x = torch.full((1, 2, 2), 0.5)
    loss, rec, kl = vae_loss(torch.zeros(1, 2, 2), x, torch.zeros(1, 3), torch.zeros(1, 3))
    assert float(rec) == pytest.approx(4 * np.log(2), rel=1e-6)
    assert float(kl) == pytest.approx(0.0, abs=1e-7)
    # KL(N(1, 1) || N(0, 1)) = 0.5 per dimension.
    _, _, kl1 = vae_loss(torch.zeros(1, 2, 2), x, torch.ones(1, 3), torch.zeros(1, 3))
    assert float(kl1) == pytest.approx(1.5, rel=1e-6)


def test_classifier_step_and_shift_augmentation():
    torch.manual_seed(0)
    for arch in ("mlp", "cnn"):
        clf = DigitClassifier(arch=arch, image_shape=(8, 8), hidden=16)
        opt = torch.optim.Adam(clf.parameters(), lr=1e-2)
        before = _params(clf)
        classifier_train_step(clf, torch.rand(4, 8, 8), torch.tensor([0, 1, 2, 3]), opt, augment=True)
        assert _changed(before, clf)
    with pytest.raises(ValueError, match="arch"):
        DigitClassifier(arch="resnet")
    x = torch.zeros(1, 3, 3)
    x[0, 1, 1] = 1.0
    shifted = random_shift(x, torch.Generator().manual_seed(0))
    assert float(shifted.sum()) == 1.0  # a one-pixel move of the single lit pixel, nothing lost


def test_digits_splits_are_disjoint_stratified_and_fixed():
    x, y = load_images("digits", "all")
    assert (
        x.shape == (1797, 8, 8) and x.dtype == np.float32 and float(x.min()) == 0.0 and float(x.max()) == 1.0
    )
    a, b = split_indices(y, "a"), split_indices(y, "b")
    assert len(set(a) & set(b)) == 0 and len(a) + len(b) == 1797
    assert np.abs(np.bincount(y[a]) - np.bincount(y[b])).max() <= 1
    assert np.array_equal(a, split_indices(y, "a"))
    with pytest.raises(ValueError, match="test"):
        load_images("digits", "test")


def _write_idx(path: Path, arr: np.ndarray, code: int = 0x08, gz: bool = False) -> None:
    data = (
        bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(">u1").tobytes()
    )
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def test_idx_reader_and_local_mnist(tmp_path: Path):
    imgs = np.arange(6 * 28 * 28, dtype=np.int64).reshape(6, 28, 28) % 256
    labels = np.array([0, 1, 2, 0, 1, 2])
    _write_idx(tmp_path / "train-images-idx3-ubyte", imgs, gz=True)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    arr = read_idx(tmp_path / "train-labels-idx1-ubyte")
    assert arr.dtype == np.uint8 and arr.tolist() == labels.tolist()
    x, y = load_mnist(tmp_path, "all")
    assert x.shape == (6, 28, 28) and x.dtype == np.float32
    assert float(x[0, 0, 1]) == pytest.approx(1 / 255)
    assert y.tolist() == labels.tolist()
    with pytest.raises(FileNotFoundError, match="does not download"):
        load_mnist(tmp_path, "test")
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    # a GAN trains on the local 28x28 files (one tiny epoch) and records where the data came from
    out = pretrain("gan", tmp_path, tmp_path / "gan28", epochs=1, seed=0, progress=False)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"] == "mnist" and cfg["arch"]["image_shape"] == [28, 28] and cfg["n_train"] == 6
    assert load_model(out).generate(torch.zeros(2, 8)).shape == (2, 28, 28)
    trunc = tmp_path / "trunc"
    trunc.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + b"\x00" * 3)
    with pytest.raises(ValueError, match="header says"):
        read_idx(trunc)


def test_pretrain_writes_safetensors_and_config_and_reloads(tmp_path: Path):
    out = pretrain("classifier", "digits", tmp_path / "clf", epochs=1, seed=3, progress=False)
    cfg = json.loads((out / "config.json").read_text())
    assert (
        cfg["seed"] == 3 and cfg["kind"] == "classifier" and "aigc-rl pretrain classifier" in cfg["command"]
    )
    assert 0.0 <= cfg["metrics"]["accuracy_split_b"] <= 1.0
    m = load_model(out)
    assert isinstance(m, DigitClassifier) and not m.training
    assert m.probs(torch.zeros(2, 8, 8)).shape == (2, 10)
    with pytest.raises(ValueError, match="already holds a model"):
        pretrain("classifier", "digits", out, epochs=1, progress=False)
    # seeded: the same seed gives the same weights
    out2 = pretrain("classifier", "digits", tmp_path / "clf2", epochs=1, seed=3, progress=False)
    for p1, p2 in zip(load_model(out).parameters(), load_model(out2).parameters(), strict=True):
        assert torch.equal(p1, p2)
    with pytest.raises(ValueError, match="unknown model kind"):
        pretrain("diffusion", "digits", tmp_path / "x", epochs=1, progress=False)


def test_shipped_models_load_without_pickle_and_record_seed_and_command():
    total = 0
    for name in SHIPPED:
        d = resolve_model_dir(name)
        assert sorted(p.name for p in d.iterdir()) == ["config.json", "model.safetensors"]
        total += sum(p.stat().st_size for p in d.iterdir())
        cfg = read_config(name)
        assert isinstance(cfg["seed"], int) and cfg["command"].startswith("aigc-rl pretrain ")
        load_model(name)
    assert total < 2_000_000
    assert read_config("classifier")["split"] == "a" and read_config("judge")["split"] == "b"
    assert read_config("classifier")["arch"]["arch"] != read_config("judge")["arch"]["arch"]
    assert read_config("judge")["metrics"]["accuracy_split_a"] >= 0.95


def test_shipped_gan_samples_are_digits_the_judge_recognises():
    """Prior samples of the shipped GAN: judge confident on most, all 10 classes present."""
    gan, judge = load_model("gan"), load_model("judge")
    z = torch.randn(500, gan.latent_dim, generator=torch.Generator().manual_seed(0))
    x = gan.generate(z)
    assert x.shape == (500, 8, 8) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    p = judge.probs(x)
    assert float(p.max(1).values.mean()) > 0.85
    assert len(set(p.argmax(1).tolist())) == 10


def test_model_directory_errors(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="pretrain"):
        load_model(tmp_path)
    gan = GAN(latent_dim=2, image_shape=(4, 4), g_hidden=(4,), d_hidden=(4,))
    save_model(gan, tmp_path / "g", {"seed": 0})
    cfg = json.loads((tmp_path / "g" / "config.json").read_text())
    cfg["arch"]["latent_dim"] = 3
    (tmp_path / "g" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="do not match"):
        load_model(tmp_path / "g")
