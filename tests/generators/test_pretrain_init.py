"""Transfer for the GAN/VAE half: ``aigc-rl pretrain gan|vae --init DIR`` (issue 12 item 3).

Fine-tuning starts from the init weights, moves the generator toward the requested classes (measured with the
shipped reward classifier on fixed latents), records its lineage, never touches the init directory, and every
bad input exits 2 with one line and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from aigc_rl.cli import main
from aigc_rl.errors import ConfigError, ModelNotFoundError, UserFileError
from aigc_rl.generators import load_model, read_config
from aigc_rl.generators.data import load_digits_images, load_npz, parse_classes, resize_images
from aigc_rl.generators.gan import GAN
from aigc_rl.generators.pretrain import load_init, pretrain
from aigc_rl.generators.store import resolve_model_dir, save_model

SUBSET = (3, 5, 8)


def _digest(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def _subset_share(model, n: int = 1000) -> float:
    """Share of prior samples (fixed latents, seed 0) the shipped reward classifier puts in SUBSET."""
    clf = load_model("classifier")
    z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(0))
    pred = clf.probs(model.generate(z)).argmax(1)
    return float(torch.isin(pred, torch.tensor(SUBSET)).float().mean())


def _state(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


@pytest.mark.parametrize(("kind", "epochs", "margin"), [("gan", 10, 0.2), ("vae", 10, 0.2)])
def test_finetune_on_class_subset_starts_from_init_and_moves_toward_the_classes(
    tmp_path: Path, kind: str, epochs: int, margin: float
):
    shipped = resolve_model_dir(kind)
    before_files = _digest(shipped)
    init = load_model(kind)
    # step 0: the model fine-tuning starts from is exactly the init's weights (generator and, for a GAN, D)
    start, start_dir, start_cfg = load_init(kind, "shipped")
    assert start_dir == shipped.resolve() and start_cfg == read_config(kind)
    s0, si = _state(start), _state(init)
    assert s0.keys() == si.keys() and all(torch.equal(s0[k], si[k]) for k in s0)
    assert start.training and all(p.requires_grad for p in start.parameters())

    out = pretrain(
        kind,
        "digits",
        tmp_path / "ft",
        epochs=epochs,
        seed=0,
        progress=False,
        init="shipped",
        classes="3,5,8",
    )
    tuned = load_model(out)
    st = _state(tuned)
    assert st.keys() == si.keys() and all(not torch.equal(st[k], si[k]) for k in st)  # every tensor trained
    before, after = _subset_share(init), _subset_share(tuned)
    # ~0.3 before (3 of 10 classes); measured 0.273 -> 0.550 (GAN) and 0.330 -> 0.571 (VAE) at these settings
    assert 0.2 < before < 0.4
    assert after > before + margin, (before, after)

    cfg = json.loads((out / "config.json").read_text())
    assert cfg["init"]["path"] == str(shipped.resolve()) and cfg["init"]["shipped"] == kind
    assert cfg["init"]["config"] == read_config(kind)
    assert (
        cfg["classes"] == [3, 5, 8] and cfg["epochs"] == epochs and cfg["arch"] == read_config(kind)["arch"]
    )
    x, y = load_digits_images("all")
    assert cfg["n_train"] == int(np.isin(y, SUBSET).sum())
    assert cfg["lr"] < read_config(kind)["lr"]  # the fine-tuning default is lower than pretraining's
    assert "--init shipped" in cfg["command"] and "--classes 3,5,8" in cfg["command"]
    assert _digest(shipped) == before_files  # the init directory is only read


def test_finetune_with_a_tiny_learning_rate_stays_next_to_init_while_scratch_does_not(tmp_path: Path):
    """Fine-tuning starts from the init weights: one epoch at lr 1e-7 barely moves them; from scratch is far."""
    src = pretrain("vae", "digits", tmp_path / "src", epochs=1, seed=1, progress=False)
    ft = pretrain("vae", "digits", tmp_path / "ft", epochs=1, seed=2, lr=1e-7, progress=False, init=src)
    scratch = pretrain("vae", "digits", tmp_path / "scratch", epochs=1, seed=2, lr=1e-7, progress=False)
    a, b, c = _state(load_model(src)), _state(load_model(ft)), _state(load_model(scratch))
    assert max(float((b[k] - a[k]).abs().max()) for k in a) < 1e-5
    assert max(float((c[k] - a[k]).abs().max()) for k in a) > 0.05
    assert any(not torch.equal(b[k], a[k]) for k in a)  # it did train
    again = _state(
        load_model(
            pretrain("vae", "digits", tmp_path / "ft2", epochs=1, seed=2, lr=1e-7, progress=False, init=src)
        )
    )
    assert all(torch.equal(again[k], b[k]) for k in b)  # seeded: the same fine-tuning gives the same weights
    cfg = json.loads((ft / "config.json").read_text())
    assert cfg["init"]["path"] == str(src.resolve()) and cfg["init"]["shipped"] is None
    assert cfg["init"]["config"]["seed"] == 1


def test_npz_loading_shapes_dtypes_and_labels(tmp_path: Path):
    x, y = load_digits_images("all")
    f = tmp_path / "d.npz"
    np.savez(f, images=(x[:20] * 255).round().astype(np.uint8), labels=y[:20])
    xi, yi = load_npz(f)
    assert xi.shape == (20, 8, 8) and xi.dtype == np.float32 and yi.tolist() == y[:20].tolist()
    assert np.abs(xi - x[:20]).max() <= 0.5 / 255 + 1e-6
    # flattened (N, 64) floats, the only array in the file, no labels
    np.savez(tmp_path / "flat.npz", x[:5].reshape(5, 64))
    xf, yf = load_npz(tmp_path / "flat.npz")
    assert xf.shape == (5, 8, 8) and np.array_equal(xf, x[:5]) and yf.tolist() == [-1] * 5
    # 28x28 images are shrunk to the 8x8 model by adaptive average pooling: output cell i averages input rows
    # floor(3.5 i) .. ceil(3.5 (i + 1)) - 1, so cell 3 covers rows 10..13; a bright 12x12 corner fills half of it
    big = np.zeros((1, 28, 28), np.float32)
    big[0, :12, :12] = 1.0
    small = resize_images(big, (8, 8))
    assert small.shape == (1, 8, 8)
    assert np.allclose(small[0, :3, :3], 1.0) and np.allclose(small[0, 4:, :], 0.0)
    assert np.allclose(small[0, 3, :3], 0.5) and np.allclose(small[0, 3, 3], 0.25)
    np.savez(tmp_path / "big.npz", images=np.repeat(big, 4, 0))
    out = pretrain("gan", tmp_path / "big.npz", tmp_path / "g", epochs=1, progress=False, init="shipped")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"] == "npz" and cfg["n_train"] == 4 and cfg["arch"]["image_shape"] == [8, 8]
    assert cfg["data_path"] == str((tmp_path / "big.npz").resolve())
    # a labelled NPZ with --classes: only those images are used
    out = pretrain("vae", f, tmp_path / "v", epochs=1, progress=False, init="shipped", classes=[0, 1])
    assert json.loads((out / "config.json").read_text())["n_train"] == int(np.isin(y[:20], [0, 1]).sum())


def test_parse_classes():
    assert parse_classes("8, 3,5,3") == (3, 5, 8) and parse_classes([9]) == (9,)
    for bad in ("", "10", "-1", "3,x", "3.5", ","):
        with pytest.raises(ConfigError, match="--classes"):
            parse_classes(bad)


def _fails(capsys, argv: list[str], needle: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("aigc-rl pretrain: error:") and needle in err, err


def test_cli_finetune_and_bad_inputs_exit_2_one_line_and_write_nothing(tmp_path: Path, capsys):
    out = tmp_path / "out"
    base = ["pretrain", "gan", "--output-dir", str(out), "--epochs", "1"]
    # a user GAN directory as init (small, 4x4) and a damaged one
    user = tmp_path / "user-gan"
    save_model(GAN(latent_dim=2, image_shape=(4, 4), g_hidden=(4,), d_hidden=(4,)), user, {"seed": 0})
    user_files = _digest(user)
    empty = tmp_path / "empty"
    empty.mkdir()
    trunc = tmp_path / "trunc"
    save_model(GAN(latent_dim=2, image_shape=(4, 4), g_hidden=(4,), d_hidden=(4,)), trunc, {"seed": 0})
    (trunc / "model.safetensors").write_bytes((trunc / "model.safetensors").read_bytes()[:50])
    badjson = tmp_path / "badjson"
    save_model(GAN(latent_dim=2, image_shape=(4, 4), g_hidden=(4,), d_hidden=(4,)), badjson, {"seed": 0})
    (badjson / "config.json").write_text("{not json")
    other_latent = tmp_path / "latent3"
    save_model(GAN(latent_dim=2, image_shape=(4, 4), g_hidden=(4,), d_hidden=(4,)), other_latent, {"seed": 0})
    cfg = json.loads((other_latent / "config.json").read_text())
    cfg["arch"]["latent_dim"] = 3
    (other_latent / "config.json").write_text(json.dumps(cfg))
    x, y = load_digits_images("all")
    npz = {
        "nan": {"images": np.full((3, 8, 8), np.nan, np.float32)},
        "shape": {"images": np.zeros((3, 7), np.float32)},
        "range": {"images": np.full((3, 8, 8), 2.0, np.float32)},
        "noimages": {"a": x[:3], "b": x[:3]},
        "strings": {"images": np.full((2, 8, 8), "a")},
        "objects": {"images": np.array([{"a": 1}, None], dtype=object)},
        "labels": {"images": x[:3], "labels": np.array([1, 2, 12])},
        "nolabels": {"images": x[:3]},
        "small": {"images": np.zeros((3, 4, 4), np.float32)},
    }
    for name, arrays in npz.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)  # type: ignore[arg-type]
    (tmp_path / "notzip.npz").write_bytes(b"hello")
    vae_dir = resolve_model_dir("vae")
    cases: list[tuple[list[str], str]] = [
        (["--init", str(tmp_path / "nope")], "no such directory"),
        (["--init", str(empty)], "holds no model.safetensors or config.json"),
        (["--init", str(trunc)], "cannot load the model"),
        (["--init", str(badjson)], "not readable JSON"),
        (["--init", str(vae_dir)], "holds a 'vae' model, not a 'gan'"),
        (["--init", str(other_latent)], "cannot load the model"),
        (["--init", str(user), "--output-dir", str(user)], "inside the init model's directory"),
        (["--init", str(user), "--output-dir", str(user / "sub")], "inside the init model's directory"),
        (["--init", "shipped", "--output-dir", str(resolve_model_dir("gan"))], "inside the init model's"),
        (["--init", "shipped", "--data", str(tmp_path / "nan.npz")], "NaN"),
        (["--init", "shipped", "--data", str(tmp_path / "shape.npz")], "has shape (3, 7)"),
        (["--init", "shipped", "--data", str(tmp_path / "range.npz")], "expected [0, 1]"),
        (["--init", "shipped", "--data", str(tmp_path / "noimages.npz")], "none named 'images'"),
        (["--init", "shipped", "--data", str(tmp_path / "strings.npz")], "dtype <U1"),
        (["--init", "shipped", "--data", str(tmp_path / "objects.npz")], "without unpickling"),
        (["--init", "shipped", "--data", str(tmp_path / "labels.npz")], "labels in 0..9"),
        (["--init", "shipped", "--data", str(tmp_path / "notzip.npz")], "not a readable .npz"),
        (["--init", "shipped", "--data", str(tmp_path / "missing.npz")], "does not exist"),
        (["--init", "shipped", "--data", str(tmp_path / "nolabels.npz"), "--classes", "3"], "needs labels"),
        (["--init", "shipped", "--data", str(tmp_path / "small.npz")], "does not enlarge"),
        (["--init", "shipped", "--classes", "3,10"], "--classes"),
        (["--init", "shipped", "--classes", ""], "names no class"),
        (["--init", "shipped", "--lr", "0"], "--lr"),
    ]
    for extra, needle in cases:
        argv = base + extra
        _fails(capsys, argv, needle)
        assert not out.exists(), argv
        assert not (user / "sub").exists()
    _fails(
        capsys,
        ["pretrain", "classifier", "--output-dir", str(out), "--init", "shipped"],
        "applies to gan and vae only",
    )
    _fails(capsys, ["pretrain", "vae", "--output-dir", str(out), "--init", str(user)], "holds a 'gan' model")
    assert not out.exists() and _digest(user) == user_files
    # the same errors from Python keep their builtin bases
    with pytest.raises(ModelNotFoundError):
        load_init("gan", empty)
    with pytest.raises(UserFileError):
        load_init("gan", trunc)
    with pytest.raises(ConfigError, match="latent size"):
        pretrain("gan", "digits", out, init="shipped", latent_dim=16, progress=False)
    assert not out.exists()

    # a user init works from the command line: 8x8 digits shrunk to the init's 4x4; the init stays untouched
    assert main(base + ["--init", str(user), "--classes", "0,1"]) == 0
    assert f"aigc-rl pretrain: wrote {out}" in capsys.readouterr().out
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["init"]["path"] == str(user.resolve()) and cfg["arch"]["image_shape"] == [4, 4]
    assert cfg["lr"] == 1e-4 and _digest(user) == user_files
    # a second run into the same output dir refuses without --overwrite
    _fails(capsys, base + ["--init", str(user)], "already holds a model")


def test_finetune_shipped_8x8_gan_on_28x28_idx_images(tmp_path: Path):
    """MNIST-style IDX data (28×28 uint8) is shrunk to the init model's 8×8 like NPZ data, labels select classes."""
    imgs = np.zeros((6, 28, 28), np.uint8)
    imgs[:, 4:24, 10:18] = 255  # a bar: after pooling, columns 3..4 are bright
    labels = np.array([1, 1, 7, 7, 1, 3], np.uint8)
    for name, arr in (("train-images-idx3-ubyte", imgs), ("train-labels-idx1-ubyte", labels)):
        header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
        (tmp_path / name).write_bytes(header + arr.tobytes())
    out = pretrain("gan", tmp_path, tmp_path / "g", epochs=1, progress=False, init="shipped", classes="1,7")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"] == "mnist" and cfg["n_train"] == 5 and cfg["arch"]["image_shape"] == [8, 8]
    assert load_model(out).generate(torch.zeros(2, 8)).shape == (2, 8, 8)
