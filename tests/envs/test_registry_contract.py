"""Contract of every registered aigc-rl env id (cases E1, E2): Gymnasium's and SB3's env checkers pass without
warnings, same seed gives identical episodes, the batched version (``vector_entry_point``) runs, and no space
is one SB3 rejects or mishandles. Text envs are built with a tiny random Llama passed as ``model=``/``tokenizer=``.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env, data_equivalence
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from aigc_rl.envs import ENV_IDS
from aigc_rl.testing import tiny_lm

PROMPTS = ["write a slogan for a red bike", "the cat sat on the mat", "zebra", "what is two plus two?"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lm():
    return tiny_lm(seed=0, init_std=0.2)


def env_kwargs(env_id: str, lm) -> dict[str, Any]:
    """Constructor arguments that make each env small and offline."""
    model, tok = lm
    text = dict(model=model, tokenizer=tok, reward="distinct-2", prompts=PROMPTS)
    if env_id == "aigc_rl/TextCompletion-v0":
        return dict(text, max_prompt_tokens=24, max_new_tokens=6)
    if env_id == "aigc_rl/TokenGeneration-v0":
        return dict(text, max_prompt_tokens=24, max_new_tokens=4, kl_coef=0.05)
    if env_id == "aigc_rl/DecodingControl-v0":
        return dict(text, observation="lm-mean", n_samples=2, max_new_tokens=4)
    return {}  # image envs: their defaults are small


def require_module(env_id: str) -> None:
    spec = gym.spec(env_id)
    module = str(spec.entry_point).partition(":")[0]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{env_id}: module {module} does not exist yet")


def contract_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    """Warnings that concern the env (library deprecation notices are not part of the contract)."""
    return [str(w.message) for w in record if not issubclass(w.category, (DeprecationWarning, FutureWarning))]


def make(env_id: str, lm) -> gym.Env:
    require_module(env_id)
    return gym.make(env_id, **env_kwargs(env_id, lm))


def test_the_registry_lists_the_four_envs():
    assert set(ENV_IDS) >= {
        "aigc_rl/TextCompletion-v0",
        "aigc_rl/TokenGeneration-v0",
        "aigc_rl/DecodingControl-v0",
        "aigc_rl/LatentImage-v0",
    }
    assert all(env_id.startswith("aigc_rl/") for env_id in ENV_IDS)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_and_sb3_checkers_pass_without_warnings(env_id, lm):
    env = make(env_id, lm)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
        sb3_check_env(env.unwrapped, warn=True)
    assert contract_warnings(record) == []


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_identical_episodes(env_id, lm):
    """Two envs, the same seed and the same actions: exactly equal observations, rewards, flags and infos."""
    traces = []
    for _ in range(2):
        env = make(env_id, lm)
        env.action_space.seed(123)
        trace: list[Any] = [env.reset(seed=7)]
        for _ in range(12):
            obs, reward, term, trunc, info = env.step(env.action_space.sample())
            trace.append((obs, reward, term, trunc, info))
            if term or trunc:
                trace.append(env.reset())
        traces.append(trace)
    assert data_equivalence(traces[0], traces[1], exact=True)


def _walk(space: spaces.Space):
    yield space
    if isinstance(space, spaces.Dict):
        for sub in space.spaces.values():
            yield from _walk(sub)
    elif isinstance(space, spaces.Tuple):
        for sub in space.spaces:
            yield from _walk(sub)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_case_e1_e2_spaces_sb3_can_use(env_id, lm):
    """Case E1, DLR-RM/stable-baselines3#1704: no spaces.Text (or other space SB3 rejects) anywhere; case E2, DLR-RM/stable-baselines3#1718: no MultiDiscrete with a non-zero
    start or more than one dimension, no Discrete with a non-zero start; sampled actions are contained."""
    env = make(env_id, lm)
    for space in [*_walk(env.observation_space), *_walk(env.action_space)]:
        assert not isinstance(space, (spaces.Text, spaces.Sequence, spaces.Graph, spaces.Tuple)), space
        if isinstance(space, spaces.MultiDiscrete):
            assert space.nvec.ndim == 1 and not np.any(space.start), space
        if isinstance(space, spaces.Discrete):
            assert space.start == 0, space
    env.action_space.seed(0)
    for _ in range(5):
        assert env.action_space.contains(env.action_space.sample())


@pytest.mark.parametrize("env_id", [i for i in ENV_IDS if gym.spec(i).vector_entry_point])
def test_native_vector_env_runs(env_id, lm):
    require_module(env_id)
    module = str(gym.spec(env_id).vector_entry_point).partition(":")[0]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{env_id}: module {module} does not exist yet")
    envs = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", **env_kwargs(env_id, lm))
    obs, info = envs.reset(seed=0)
    assert envs.observation_space.contains(obs)
    envs.action_space.seed(0)
    for _ in range(6):
        obs, reward, term, trunc, info = envs.step(envs.action_space.sample())
        assert envs.observation_space.contains(obs)
        assert reward.shape == term.shape == trunc.shape == (2,)
    envs.close()
