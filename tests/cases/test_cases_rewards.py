"""Handed cases across every place of their kind: A1 inside each Gymnasium env step, B1 for image rewards on
degenerate image batches, G1 for generator/classifier weights."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import aigc_rl.envs  # noqa: F401  (registers the env ids)
from aigc_rl.rewards import make
from aigc_rl.rewards.base import RewardOutputError

IMAGE_REWARDS = ["target-class", "realism", "image-diversity", "class-coverage", "image-novelty"]


def _one_too_many(completions, prompts=None, **kw):
    return [1.0] * (len(completions) + 1)


def _nan(completions, prompts=None, **kw):
    return [0.5] + [float("nan")] * (len(completions) - 1)


@pytest.fixture(scope="module")
def tiny():
    from aigc_rl.testing import tiny_lm

    return tiny_lm()


def _step(env_id, reward, tiny, n):
    m, tok = tiny
    kw = {
        "aigc_rl/TextCompletion-v0": dict(tokenizer=tok),
        "aigc_rl/TokenGeneration-v0": dict(model=m, tokenizer=tok, max_new_tokens=1),
        "aigc_rl/DecodingControl-v0": dict(
            model=m, tokenizer=tok, max_new_tokens=2, n_samples=n, observation="lm-mean"
        ),
        "aigc_rl/LatentImage-v0": {},
    }[env_id]
    if env_id != "aigc_rl/LatentImage-v0":
        kw["prompts"] = ["hi there", "hello"]
    env = gym.make(env_id, reward=reward, **kw)
    env.reset(seed=0)
    action = "some text" if env_id == "aigc_rl/TextCompletion-v0" else env.action_space.sample()
    return env.step(action)


ENV_IDS = [
    "aigc_rl/TextCompletion-v0",
    "aigc_rl/TokenGeneration-v0",
    "aigc_rl/DecodingControl-v0",
    "aigc_rl/LatentImage-v0",
]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_a1_plain_callable_reward_is_validated_in_env_step(env_id, tiny):
    """Case A1, huggingface/trl#6533 in every env: a plain-function reward with the wrong count or a NaN fails the step with an error
    naming the reward ("expected N values, got N+1" / the index of the first bad value); never broadcast."""
    n = 3 if env_id == "aigc_rl/DecodingControl-v0" else 1
    with pytest.raises(RewardOutputError, match=rf"'_one_too_many': expected {n} values, got {n + 1}"):
        _step(env_id, _one_too_many, tiny, n)
    if n > 1:
        with pytest.raises(RewardOutputError, match="'_nan': value at index 1 is nan"):
            _step(env_id, _nan, tiny, n)


def test_a1_env_reward_of_wrong_type_is_a_type_error():
    """Case A1, huggingface/trl#6533 (kind): a reward that is neither a spec, a reward model nor a callable is refused by name."""
    with pytest.raises(TypeError, match="reward must be"):
        gym.make("aigc_rl/LatentImage-v0", reward=3)


def test_a1_composite_names_the_bad_component():
    """Case A1, huggingface/trl#6533 in composite rewards: the failing component is named, not the composite."""
    from aigc_rl.rewards.base import FunctionReward
    from aigc_rl.rewards.composite import CompositeReward

    comp = CompositeReward([(make("length"), 1.0), (FunctionReward(_one_too_many), 1.0)])
    with pytest.raises(RewardOutputError, match="'_one_too_many': expected 3 values, got 4"):
        comp(["a", "b", "c"], ["p", "p", "p"])


@pytest.mark.parametrize("name", IMAGE_REWARDS)
def test_b1_image_rewards_on_degenerate_batches(name):
    """Case B1, huggingface/evaluate#601/B2 for image rewards: an empty batch scores [], an all-zero (blank) batch gives finite values,
    NaN/inf pixels are an error naming the reward and the first bad image."""
    r = make(name)
    assert r(np.zeros((0, 8, 8), np.float32), target=[]) == []
    zero = np.zeros((4, 8, 8), np.float32)
    vals = r(zero, target=[3, 3, 3, 3])
    assert len(vals) == 4 and all(v is None or np.isfinite(v) for v in vals)
    if name == "image-diversity":  # identical blank images of one target: zero distance
        assert vals == [0.0, 0.0, 0.0, 0.0]
    bad = zero.copy()
    bad[2, 0, 0] = np.nan
    with pytest.raises(ValueError, match=rf"reward '{name}'.*NaN or inf.*image index 2"):
        r(bad, target=[3, 3, 3, 3])


def test_unknown_reward_in_spec_lists_presets():
    """An unknown name in a reward spec lists the registered rewards and the presets."""
    from aigc_rl.rewards import UnknownRewardError
    from aigc_rl.rewards.composite import make_composite

    with pytest.raises(UnknownRewardError, match="presets: quality, creativity, safety"):
        make_composite("qualty+creativity")


def test_g1_generator_weights_with_pickle_payload_are_refused(tmp_path):
    """Case G1, DLR-RM/stable-baselines3#1852 for generator / classifier weights: a model.safetensors that is really a pickle payload is
    refused and never executed."""
    import json
    import pickle

    from aigc_rl.generators.store import load_model

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    d = tmp_path / "gan"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"kind": "classifier", "arch": {}}))
    (d / "model.safetensors").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(Exception):  # noqa: B017  (safetensors' own header error)
        load_model(d)
    with pytest.raises(Exception):  # noqa: B017
        make("target-class", model=str(d))(np.zeros((1, 8, 8), np.float32), target=[0])
    assert not marker.exists()
