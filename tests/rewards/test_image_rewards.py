"""Image rewards: hand-computed cases, the protocol (validation, sign flip), registry and composition."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aigc_rl.generators import load_model
from aigc_rl.generators.data import load_images
from aigc_rl.rewards import make, make_composite, names
from aigc_rl.rewards.base import RewardOutputError
from aigc_rl.rewards.image import ImageRewardModel, as_images, rms_distances


def _img(value: float, shape=(8, 8)) -> np.ndarray:
    return np.full(shape, value, dtype=np.float32)


def test_registered_names():
    for n in ("target-class", "realism", "image-diversity", "class-coverage", "image-novelty"):
        assert n in names()
        r = make(n)
        assert r.name == n and r.kind in ("quality", "creativity") and r.source
        assert "range" in (type(r).__doc__ or "").lower()


def test_rms_distance_hand_case():
    a = np.stack([_img(0.0), _img(1.0), _img(0.5)])
    d = rms_distances(torch.from_numpy(a), torch.from_numpy(a))
    assert d.numpy() == pytest.approx(np.array([[0, 1, 0.5], [1, 0, 0.5], [0.5, 0.5, 0]]), abs=1e-6)


def test_image_diversity_hand_computed_groups_and_context():
    imgs = np.stack([_img(0.0), _img(1.0), _img(0.5), _img(0.25)])
    r = make("image-diversity")
    # groups by target: {0, 1} and {2, 3}
    assert r(imgs, target=[0, 0, 1, 1]) == pytest.approx([1.0, 1.0, 0.25, 0.25])
    # whole batch: image 0 -> mean(1, 0.5, 0.25)
    assert r(imgs)[0] == pytest.approx((1 + 0.5 + 0.25) / 3)
    # a group of one has no sibling: not applicable
    assert r(imgs[:1], target=[3]) == [None]
    # context images of the same group count as siblings, others do not
    ctx = np.stack([_img(1.0), _img(0.0)])
    assert r(imgs[:1], target=[3], context_images=ctx, context_groups=[3, 5]) == pytest.approx([1.0])


def test_image_novelty_is_distance_to_nearest_training_image():
    x, _ = load_images("digits", "all")
    r = make("image-novelty")
    vals = r(x[:3])
    assert vals == pytest.approx([0.0, 0.0, 0.0], abs=1e-6)  # copies of training images: memorised
    blank = _img(0.0)[None]
    expected = float(np.sqrt(((x.reshape(len(x), -1)) ** 2).mean(1)).min())
    assert r(blank)[0] == pytest.approx(expected, rel=1e-5)
    assert make("image-novelty", cap=0.05)(blank)[0] == pytest.approx(min(expected, 0.05))


def test_target_class_is_classifier_softmax_of_target():
    x, y = load_images("digits", "b")
    clf = load_model("classifier")
    with torch.no_grad():
        p = torch.softmax(clf(torch.from_numpy(x[:6])), -1).numpy()
    r = make("target-class")
    vals = r(x[:6], target=y[:6].tolist())
    assert vals == pytest.approx([p[i, y[i]] for i in range(6)], rel=1e-5)
    assert sum(v > 0.5 for v in vals) >= 5
    logs = make("target-class", log=True)(x[:6], target=[int(t) for t in y[:6]])
    assert logs == pytest.approx([math.log(v) for v in vals], rel=1e-4, abs=1e-6)
    assert r(x[:2], target=[None, int(y[1])])[0] is None
    with pytest.raises(ValueError, match="target"):
        r(x[:2])
    with pytest.raises(ValueError, match="0..9"):
        r(x[:1], target=[12])
    with pytest.raises(ValueError, match="one per image"):
        r(x[:2], target=[1])


def test_realism_vae_is_minimised_reconstruction_mse_and_prefers_digits_to_noise():
    x, _ = load_images("digits", "all")
    vae = load_model("vae")
    r = make("realism")
    assert r.direction == "minimize"
    with torch.no_grad():
        mse = (
            ((vae.reconstruct(torch.from_numpy(x[:4])) - torch.from_numpy(x[:4])) ** 2)
            .flatten(1)
            .mean(1)
            .numpy()
        )
    assert r.raw(x[:4]) == pytest.approx(mse.tolist(), rel=1e-5)
    assert r(x[:4]) == pytest.approx((-mse).tolist(), rel=1e-5)  # __call__ flips the sign
    noise = np.random.default_rng(0).random((4, 8, 8), dtype=np.float32)
    assert np.mean(r.raw(noise)) > 3 * np.mean(r.raw(x[:100]))
    disc = make("realism", method="discriminator")
    assert disc.direction == "maximize" and all(0.0 <= v <= 1.0 for v in disc(x[:4]))
    knn = make("realism", method="knn", k=1)
    assert knn.raw(x[:2]) == pytest.approx([0.0, 0.0], abs=1e-6)
    with pytest.raises(ValueError, match="method"):
        make("realism", method="fid")


def test_class_coverage_entropy():
    x, y = load_images("digits", "b")
    r = make("class-coverage")
    one_class = x[y == 3][:20]
    all_classes = np.concatenate([x[y == c][:2] for c in range(10)])
    low, high = r(one_class)[0], r(all_classes)[0]
    assert low < 0.3 and high > 0.9
    assert len(set(r(all_classes))) == 1  # one value per group
    vals = r(all_classes, group_ids=[0] * 10 + [1] * 10)
    assert vals[0] != vals[-1]


def test_input_validation_and_output_contract():
    """Case A1, huggingface/trl#6533 for image rewards: wrong output length and NaN are errors naming the reward."""
    r = make("image-diversity")
    with pytest.raises(TypeError, match="not text"):
        r(["a digit"])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        r(np.full((2, 8, 8), 255.0, dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        r(np.zeros((8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        r(np.full((2, 8, 8), np.nan, dtype=np.float32))
    assert len(as_images(torch.zeros(3, 1, 8, 8))) == 3

    class Bad(ImageRewardModel):
        name = "bad-image"

        def score(self, completions, prompts=None, **kwargs):
            return [float("nan")] * len(completions)

    class Short(ImageRewardModel):
        name = "short-image"

        def score(self, completions, prompts=None, **kwargs):
            return [1.0]

    with pytest.raises(RewardOutputError, match="'bad-image'.*index 0"):
        Bad()(np.zeros((2, 8, 8), dtype=np.float32))
    with pytest.raises(RewardOutputError, match="expected 3 values, got 1"):
        Short()(np.zeros((3, 8, 8), dtype=np.float32))


def test_composite_of_image_rewards_reports_components():
    x, y = load_images("digits", "b")
    comp = make_composite("target-class:1+realism:5+image-diversity:1")
    total, comps = comp.compute(x[:6], None, target=y[:6].tolist(), group_ids=[0] * 6)
    expected = [
        comps["target-class"][i] - 5 * comps["realism"][i] + comps["image-diversity"][i] for i in range(6)
    ]
    assert total == pytest.approx(expected, rel=1e-6)
    assert comps["realism/weighted"][0] == pytest.approx(-5 * comps["realism"][0])
    # each image alone in its target group: diversity does not apply and contributes 0
    total1, comps1 = comp.compute(x[:2], None, target=[0, 1])
    assert comps1["image-diversity"] == [None, None]
    assert total1[0] == pytest.approx(comps1["target-class"][0] - 5 * comps1["realism"][0])
