"""aigc_rl/TextCompletion-v0 and its batched version on a tiny tokenizer (no model download)."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import aigc_rl  # noqa: F401
from aigc_rl.envs.text.completion import TextCompletionEnv, TextCompletionVectorEnv
from aigc_rl.rewards import make_composite
from aigc_rl.task import TextTask
from aigc_rl.testing import tiny_lm

PROMPTS = ["write a slogan for a red bike", "the cat sat on the mat", "what is two plus two?"]


@pytest.fixture(scope="module")
def tok():
    return tiny_lm(seed=0)[1]


def make(tok, **kw):
    args = dict(
        prompts=PROMPTS,
        reward="distinct-1+distinct-2:0.5",
        tokenizer=tok,
        max_prompt_tokens=64,
        max_new_tokens=16,
    )
    args.update(kw)
    return gym.make("aigc_rl/TextCompletion-v0", **args)


def test_checkers_pass_without_warnings(tok):
    env = make(tok).unwrapped
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=False)
        sb3_check_env(env)
    assert [str(x.message) for x in w] == []


def test_step_scores_string_and_token_actions_the_same(tok):
    env = make(tok)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    text = "a red bike a red bike"
    _, r_text, term, trunc, info_text = env.step(text)
    assert term and not trunc
    # hand-computed: distinct-1 = 3 distinct / 6 = 0.5 ; distinct-2 = {a red, red bike, bike a} 3 / 5 = 0.6
    assert info_text["rewards"]["distinct-1"] == pytest.approx(0.5)
    assert info_text["rewards"]["distinct-2"] == pytest.approx(0.6)
    assert r_text == pytest.approx(0.5 + 0.5 * 0.6)
    env.reset(seed=0)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    pad = env.action_space.nvec[0] - 1  # the "no token" value
    assert len(ids) <= 16
    action = np.array(ids + [pad] * (16 - len(ids)), dtype=np.int64)
    assert env.action_space.contains(action)
    _, r_ids, *_ = env.step(action)
    assert r_ids == pytest.approx(r_text)


def test_same_seed_same_episodes(tok):
    a, b = make(tok), make(tok)
    for seed in range(3):
        oa, ia = a.reset(seed=seed)
        ob, ib = b.reset(seed=seed)
        assert ia == ib and all(np.array_equal(oa[k], ob[k]) for k in oa)


def test_prompt_truncated_from_left_keeps_template(tok):
    """Case C4, huggingface/trl#3644: a long prompt is cut from the left of the user content; template markers stay."""
    long = "word " * 200 + "FINAL QUESTION"
    env = make(tok, prompts=[long], max_prompt_tokens=40)
    obs, info = env.reset(seed=0)
    ids = obs["input_ids"][obs["attention_mask"] == 1].tolist()
    assert len(ids) == 40
    text = tok.decode(ids)
    assert text.startswith("<|im_start|>") and text.rstrip().endswith("assistant")
    assert "FINAL QUESTION" in text and info["prompt"].endswith("FINAL QUESTION")


def test_vector_env_groups_share_a_prompt_and_compare_siblings(tok):
    venv = gym.make_vec(
        "aigc_rl/TextCompletion-v0",
        num_envs=4,
        vectorization_mode="vector_entry_point",
        group_size=2,
        prompts=PROMPTS,
        reward="distinct-2",
        tokenizer=tok,
        max_new_tokens=8,
    )
    _, info = venv.reset(seed=0)
    assert info["prompt"][0] == info["prompt"][1] and info["prompt"][2] == info["prompt"][3]
    _, rew, term, trunc, info = venv.step(["red bike now", "red bike now", "a b c", "d e f"])
    # identical siblings share every bigram -> 0 ; disjoint siblings -> 1
    assert rew.tolist() == [0.0, 0.0, 1.0, 1.0]
    assert term.all() and not trunc.any()
    with pytest.raises(ValueError, match="multiple of group_size"):
        TextCompletionVectorEnv(num_envs=3, group_size=2, prompts=PROMPTS, tokenizer=tok)


def test_task_shares_reward_object(tok):
    reward = make_composite("distinct-2")
    env = TextCompletionEnv(prompts=PROMPTS, reward=reward, tokenizer=tok)
    assert env.task.reward is reward


def test_bad_arguments(tok):
    with pytest.raises(ValueError, match="max_prompt_tokens and max_new_tokens must be >= 1"):
        TextTask(prompts=PROMPTS, tokenizer=tok, max_new_tokens=0)
    env = make(tok)
    with pytest.raises(RuntimeError, match="reset"):
        env.unwrapped.step("x")
    with pytest.raises(ValueError, match="prompt_index"):
        env.reset(options={"prompt_index": 99})
