"""aigc_rl/LatentImage-v0: API contract (gymnasium + SB3 checkers), determinism, spaces, batched version."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import aigc_rl  # noqa: F401  (registers the ids)
from aigc_rl.envs.image.latent_image import LatentImageEnv, LatentImageTask, LatentImageVectorEnv
from aigc_rl.generators import load_model

ENV_ID = "aigc_rl/LatentImage-v0"


@pytest.mark.parametrize(
    "kwargs", [{}, {"mode": "walk", "walk_steps": 3}, {"generator": "vae", "noise_in_obs": False}]
)
def test_check_env_gymnasium_and_sb3_without_warnings(kwargs):
    """Cases E1/E2 for the image env: Box spaces that SB3 accepts; both checkers pass with no warning."""
    env = gym.make(ENV_ID, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
        sb3_check_env(env.unwrapped, warn=True)
    assert [str(w.message) for w in caught] == []
    assert isinstance(env.action_space, gym.spaces.Box) and env.action_space.dtype == np.float32
    assert float(env.action_space.low.min()) == -1.0 and float(env.action_space.high.max()) == 1.0


def _rollout(env: gym.Env, seed: int, n: int) -> list:
    out = []
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    for _ in range(n):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        out.append((obs.copy(), r, term, trunc, info["image"].copy(), info["target"]))
        if term or trunc:
            obs, _ = env.reset()
    return out


def test_seeded_determinism_exact():
    a = _rollout(gym.make(ENV_ID), seed=7, n=12)
    b = _rollout(gym.make(ENV_ID), seed=7, n=12)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x[0], y[0]) and x[1] == y[1] and x[2:4] == y[2:4]
        assert np.array_equal(x[4], y[4]) and x[5] == y[5]
    c = _rollout(gym.make(ENV_ID), seed=8, n=12)
    assert any(x[5] != y[5] for x, y in zip(a, c, strict=True))


def test_single_step_episode_observation_action_and_info():
    env = LatentImageEnv(reward="target-class", target_class=None)
    obs, info = env.reset(seed=0)
    assert obs.shape == (10 + 8,) and obs.dtype == np.float32
    assert obs[:10].sum() == 1.0 and int(obs[:10].argmax()) == info["target"]
    assert np.all(np.abs(obs[10:]) <= 1.0)
    action = np.zeros(8, dtype=np.float32)
    obs2, r, term, trunc, info = env.step(action)
    assert term is True and trunc is False
    assert info["image"].shape == (8, 8) and info["image"].dtype == np.float32
    assert np.array_equal(info["latent"], np.zeros(8, dtype=np.float32))  # a = 0 -> z = 0
    gan, clf = load_model("gan"), load_model("classifier")
    with torch.no_grad():
        img = gan.generate(torch.zeros(1, 8))
        p = torch.softmax(clf(img), -1)[0, info["target"]].item()
    assert np.allclose(info["image"], img[0].numpy())
    assert r == pytest.approx(p, rel=1e-5)
    assert info["rewards"]["target-class"] == pytest.approx(p, rel=1e-5)
    with pytest.raises(ValueError, match="target"):
        env.reset(options={"target": 10})
    env.reset(options={"target": 4})
    assert env.step(action)[4]["target"] == 4


def test_gaussian_action_mapping_gives_the_prior():
    task = LatentImageTask(reward="target-class")
    a = np.array([[-1.0, -0.5, 0.0, 0.5, 1.0, 2.0, -3.0, 0.1]], dtype=np.float32)
    z = task.action_to_latent(a)[0]
    b = math.erf(3 / math.sqrt(2))
    # z = Phi^-1((a * b + 1) / 2): the standard-normal quantile of the rescaled action
    from statistics import NormalDist

    expected = [NormalDist().inv_cdf((min(max(v, -1), 1) * b + 1) / 2) for v in a[0].tolist()]
    assert z == pytest.approx(expected, abs=1e-4)
    assert z[4] == pytest.approx(3.0, abs=1e-4) and z[0] == pytest.approx(-3.0, abs=1e-4)
    assert task.latent_to_action(z[None])[0][:5] == pytest.approx(a[0][:5], abs=1e-5)
    # uniform actions -> standard normal latents (truncated at 3 sigma)
    u = np.random.default_rng(0).uniform(-1, 1, size=(20000, 8)).astype(np.float32)
    zz = task.action_to_latent(u)
    assert zz.mean() == pytest.approx(0.0, abs=0.02) and zz.std() == pytest.approx(0.987, abs=0.02)
    lin = LatentImageTask(reward="target-class", action_mapping="linear")
    assert lin.action_to_latent(np.array([[0.5] * 8]))[0][0] == pytest.approx(1.5)


def test_walk_mode_moves_the_latent_and_ends_after_walk_steps():
    env = LatentImageEnv(reward="target-class", mode="walk", walk_steps=3, step_size=0.5)
    obs, _ = env.reset(seed=1)
    z0 = obs[10:18] * 3.0
    assert obs[-1] == 1.0
    a = np.ones(8, dtype=np.float32)
    obs, _, term, _, info = env.step(a)
    assert not term and obs[-1] == pytest.approx(2 / 3)
    assert info["latent"] == pytest.approx(np.clip(z0 + 0.5, -3, 3), abs=1e-5)
    env.step(a)
    _, _, term, _, _ = env.step(a)
    assert term


def test_generator_must_be_an_image_generator():
    """aigc_rl.types.ImageGenerator is checked at construction: a shipped classifier or a module without
    image_shape is refused with a TypeError naming what is missing; a conforming user module is accepted."""
    with pytest.raises(TypeError, match=r"generate\(z\), latent_dim and image_shape; got classifier"):
        LatentImageTask(generator="classifier")

    class NoShape(torch.nn.Module):
        latent_dim = 4

        def generate(self, z: torch.Tensor) -> torch.Tensor:
            return torch.zeros(len(z), 8, 8)

    with pytest.raises(TypeError, match="got NoShape"):
        LatentImageTask(generator=NoShape())

    class Flat(NoShape):
        image_shape = (8, 8)

    task = LatentImageTask(generator=Flat())
    assert (task.latent_dim, task.image_shape, task.generator_name) == (4, (8, 8), "Flat")


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="mode"):
        LatentImageTask(mode="diffuse")
    with pytest.raises(ValueError, match="action_mapping"):
        LatentImageTask(action_mapping="cubic")
    with pytest.raises(ValueError, match="target_class"):
        LatentImageTask(target_class=11)
    with pytest.raises(FileNotFoundError, match="pretrain"):
        LatentImageTask(generator="/nonexistent/model")
    with pytest.raises(ValueError, match="render_mode"):
        LatentImageEnv(render_mode="human")
    env = gym.make(ENV_ID, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    frame = env.render()
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8


def test_vector_env_one_batch_matches_generator_and_autoresets():
    venv = gym.make_vec(ENV_ID, num_envs=6, vectorization_mode="vector_entry_point", reward="target-class")
    assert isinstance(venv, LatentImageVectorEnv)
    obs, info = venv.reset(seed=3)
    assert obs.shape == (6, 18) and np.array_equal(obs[:, :10].argmax(1), info["target"])
    actions = np.random.default_rng(0).uniform(-1, 1, size=(6, 8)).astype(np.float32)
    obs2, r, term, trunc, info2 = venv.step(actions)
    assert term.all() and not trunc.any()
    z = venv.task.action_to_latent(actions)
    gan, clf = load_model("gan"), load_model("classifier")
    with torch.no_grad():
        imgs = gan.generate(torch.from_numpy(z))
        p = torch.softmax(clf(imgs), -1).numpy()
    assert np.allclose(info2["image"], imgs.numpy(), atol=1e-6)
    assert r == pytest.approx(p[np.arange(6), info["target"]], rel=1e-5)
    assert "final_obs" in info2 and info2["final_obs"].shape == (6, 18)
    # same seed -> same episode draws
    venv2 = gym.make_vec(ENV_ID, num_envs=6, vectorization_mode="vector_entry_point", reward="target-class")
    o, _ = venv2.reset(seed=3)
    assert np.array_equal(o, obs)
    assert np.array_equal(venv2.step(actions)[1], r)
    with pytest.raises(ValueError, match="num_envs"):
        LatentImageVectorEnv(0)


def test_diversity_reward_uses_recent_samples_of_the_same_class():
    env = LatentImageEnv(reward="image-diversity", target_class=2, memory_size=4)
    env.reset(seed=0)
    a = np.zeros(8, dtype=np.float32)
    _, r1, *_ = env.step(a)
    assert r1 == 0.0  # nothing to compare with yet: not applicable -> 0
    env.reset()
    _, r2, *_ = env.step(a)
    assert r2 == pytest.approx(0.0, abs=1e-6)  # identical to the remembered image
    env.reset()
    _, r3, *_ = env.step(np.ones(8, dtype=np.float32))
    assert r3 > 0.05
    env.reset(seed=0)  # a seeded reset forgets the memory
    _, r4, *_ = env.step(a)
    assert r4 == 0.0
