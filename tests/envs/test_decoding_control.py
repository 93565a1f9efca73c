"""aigc_rl/DecodingControl-v0 on a tiny random Llama."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from aigc_rl.envs.text.decoding_control import DEFAULT_RANGES, DecodingControlEnv, sample_group
from aigc_rl.prompt_encoding import PromptEncoder
from aigc_rl.testing import tiny_lm

PROMPTS = ["write a slogan for a red bike", "the cat sat on the mat", "zebra"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lm():
    return tiny_lm(seed=2, init_std=0.2)


def make(lm, **kw):
    args = dict(
        model=lm[0],
        tokenizer=lm[1],
        reward="distinct-2",
        prompts=PROMPTS,
        observation="lm-mean",
        max_new_tokens=6,
        n_samples=3,
    )
    args.update(kw)
    return DecodingControlEnv(**args)


def test_spaces_and_settings_mapping(lm):
    env = make(lm)
    assert env.action_space == spaces.Box(-1.0, 1.0, (3,), np.float32)
    assert env.observation_space == spaces.Box(-1.0, 1.0, (32,), np.float32)
    lo = {k: v[0] for k, v in DEFAULT_RANGES.items()}
    hi = {k: v[1] for k, v in DEFAULT_RANGES.items()}
    assert env.settings([-1, -1, -1]) == lo and env.settings([1, 1, 1]) == hi
    assert env.settings([5, -5, 0]) == {
        "temperature": 2.0,
        "top_p": 0.5,
        "repetition_penalty": 1.5,
    }  # clipped
    a = env.action_for(temperature=0.7, top_p=0.9, repetition_penalty=1.2)
    assert env.settings(a) == pytest.approx({"temperature": 0.7, "top_p": 0.9, "repetition_penalty": 1.2})
    with pytest.raises(ValueError, match="finite"):
        env.settings([0.0, np.nan, 0.0])
    with pytest.raises(ValueError, match="ranges"):
        make(lm, ranges={"temperature": (2.0, 1.0)})


def test_lm_mean_observation(lm):
    model, tok = lm
    env = make(lm)
    obs, info = env.reset(seed=0, options={"prompt_index": 1})
    ids = PromptEncoder(tok, 96)(PROMPTS[1])
    with torch.no_grad():
        h = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0].mean(0)
    np.testing.assert_allclose(obs, (h / h.norm()).numpy(), atol=1e-6)
    assert info["prompt"] == PROMPTS[1] and env.observation_space.contains(obs)


def test_one_step_episode_rewards_the_group(lm):
    env = make(lm, reward="distinct-1+distinct-2:0.5")
    env.reset(seed=4)
    obs, r, term, trunc, info = env.step(np.zeros(3, dtype=np.float32))
    assert term is True and trunc is False
    assert len(info["texts"]) == 3 and len(info["rewards"]) == 3
    assert r == pytest.approx(np.mean(info["rewards"]))
    comps = info["reward_components"]
    assert r == pytest.approx(comps["distinct-1/weighted"] + comps["distinct-2/weighted"])
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(3, dtype=np.float32))


def test_same_seed_same_completions(lm):
    runs = []
    for _ in range(2):
        env = make(lm)
        out = []
        obs, _ = env.reset(seed=11)
        for a in ([0.5, 0.0, -1.0], [-0.5, 1.0, 0.3]):
            obs2, r, *_rest, info = env.step(np.asarray(a, dtype=np.float32))
            out.append((obs.tolist(), r, info["texts"]))
            obs, _ = env.reset()
        runs.append(out)
    assert runs[0] == runs[1]


@pytest.mark.parametrize("settings", [(0.7, 0.9, 1.3), (1.5, 1.0, 1.0), (0.3, 0.6, 2.0)])
def test_sampler_equals_transformers_generate(lm, settings):
    """The env's KV-cached sampler draws exactly what ``generate(do_sample=True)`` draws from the same seed."""
    model, tok = lm
    temperature, top_p, rep = settings
    ids = PromptEncoder(tok, 96)(PROMPTS[0])
    eos = tok.eos_token_id
    got = sample_group(
        model,
        ids,
        3,
        10,
        temperature,
        top_p,
        rep,
        torch.Generator().manual_seed(123),
        [eos],
        tok.pad_token_id,
    )
    from transformers import GenerationConfig

    cfg = GenerationConfig(
        do_sample=True,
        temperature=temperature,
        top_p=top_p,
        top_k=0,
        repetition_penalty=rep,
        max_new_tokens=10,
        eos_token_id=eos,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(123)
    ref = model.generate(
        input_ids=torch.tensor([ids] * 3),
        attention_mask=torch.ones(3, len(ids), dtype=torch.long),
        generation_config=cfg,
    )[:, len(ids) :].tolist()
    for g, r in zip(got, ref, strict=True):
        assert g == r[: len(g)]
        assert len(g) == 10 or g[-1] == eos


def test_minilm_observation_is_the_relevance_embedding(lm):
    """Default observation: the 384-d MiniLM embedding used by the relevance reward (shared, loaded once)."""
    env = make(lm, observation="minilm", reward="relevance+distinct-2")
    assert env.observation_space.shape == (384,)
    relevance = env.reward_model.components[0][0]
    assert env._embedder is relevance
    obs, info = env.reset(seed=0)
    np.testing.assert_allclose(obs, relevance.embed([info["prompt"]])[0], atol=1e-6)
    assert abs(float(np.linalg.norm(obs)) - 1.0) < 1e-4
