"""SB3 PPO with an LM actor-critic policy on aigc_rl/TokenGeneration-v0 (tiny random Llama); cases E1, E2."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO

from aigc_rl.agents.sb3 import LMPPO, LMActorCriticPolicy, UnsupportedSpaceError
from aigc_rl.envs.text.token_generation import TokenGenerationEnv
from aigc_rl.envs.wrappers import TokenizeObservation
from aigc_rl.testing import tiny_lm

PROMPTS = ["write a slogan", "the cat sat", "zebra"]


pytestmark = pytest.mark.usefixtures("one_thread")


def e_reward(completions, prompts=None, **kw):
    """Number of letters 'e' per generated token (4 tokens per episode)."""
    return [c.count("e") / 4 for c in completions]


def make(seed: int = 0, **kw):
    model, tok = tiny_lm(seed=seed, init_std=0.2)
    env = TokenGenerationEnv(
        model=model,
        tokenizer=tok,
        reward=e_reward,
        prompts=PROMPTS,
        max_prompt_tokens=24,
        max_new_tokens=4,
        stop_token_ids=(),
        **kw,
    )
    return model, tok, env


def expected_first_token_reward(policy: LMActorCriticPolicy, env: TokenGenerationEnv, tok) -> float:
    """Exact expected 'e' count of the first token over the prompts (no sampling noise)."""
    e_count = torch.tensor(
        [tok.decode([i]).count("e") / 4 for i in range(env.action_space.n)], dtype=torch.float32
    )
    total = 0.0
    for i in range(len(PROMPTS)):
        obs, _ = env.reset(seed=0, options={"prompt_index": i})
        with torch.no_grad():
            dist = policy.get_distribution({k: torch.as_tensor(v)[None] for k, v in obs.items()})
        total += float((dist.distribution.probs[0] * e_count).sum())
    return total / len(PROMPTS)


def test_ppo_trains_lora_policy_and_raises_reward():
    """PPO(LMActorCriticPolicy, env) updates the LoRA adapter and the value head, leaves the base weights frozen,
    and raises the expected reward for emitting the letter 'e'."""
    model, tok, env = make()
    agent = PPO(
        LMActorCriticPolicy,
        env,
        n_steps=128,
        batch_size=64,
        n_epochs=4,
        learning_rate=3e-3,
        gamma=1.0,
        seed=0,
        policy_kwargs={"model": model, "tokenizer": tok},
    )
    policy = agent.policy
    eval_env = make()[2]
    named = dict(policy.named_parameters())
    trainable = {k: p.detach().clone() for k, p in named.items() if p.requires_grad}
    frozen = {k: p.detach().clone() for k, p in named.items() if not p.requires_grad}
    assert any("lora_" in k for k in trainable) and "value_net.weight" in trainable
    assert not any("lora_" in k for k in frozen) and frozen
    before = expected_first_token_reward(policy, eval_env, tok)
    agent.learn(total_timesteps=512)
    after = expected_first_token_reward(policy, eval_env, tok)
    changed = [k for k, p in named.items() if p.requires_grad and not torch.equal(p, trainable[k])]
    assert any("lora_" in k for k in changed) and "value_net.weight" in changed
    assert all(torch.equal(named[k], v) for k, v in frozen.items())
    assert after > 1.5 * before, (before, after)
    # the env shares the model object: its logits are the trained policy's logits (LoRA injected in place)
    obs, _ = env.reset(seed=1)
    probe = TokenGenerationEnv(
        model=model,
        tokenizer=tok,
        reward=e_reward,
        prompts=PROMPTS,
        max_prompt_tokens=24,
        max_new_tokens=4,
        expose_logits=True,
    )
    obs, _ = probe.reset(seed=1)
    with torch.no_grad():
        logits = policy.get_distribution(
            {k: torch.as_tensor(v)[None] for k, v in obs.items()}
        ).distribution.logits
    torch.testing.assert_close(
        torch.log_softmax(probe.next_token_logits, -1), logits[0], atol=1e-5, rtol=1e-5
    )


def test_last_layers_mode_trains_only_the_last_layer():
    model, tok, env = make()
    agent = PPO(
        LMActorCriticPolicy,
        env,
        n_steps=32,
        batch_size=32,
        n_epochs=1,
        seed=0,
        policy_kwargs={"model": model, "lora": None, "trainable_layers": 1},
    )
    named = dict(agent.policy.named_parameters())
    grads = {k for k, p in named.items() if p.requires_grad}
    assert grads and all(k.startswith(("lm.model.layers.1.", "lm.model.norm", "value_net")) for k in grads)
    snap = {k: named[k].detach().clone() for k in grads}
    agent.learn(total_timesteps=32)
    assert any(not torch.equal(named[k], v) for k, v in snap.items() if k.startswith("lm.model.layers.1."))


def test_policy_logits_match_unpadded_forward():
    """Case C1, huggingface/transformers#34658 for the policy: left padding in the observed window does not change the next-token logits."""
    model, tok, env = make()
    agent = PPO(LMActorCriticPolicy, env, n_steps=32, batch_size=32, seed=0, policy_kwargs={"model": model})
    obs, _ = env.reset(seed=3)
    assert obs["attention_mask"][0] == 0  # padded on the left
    ids = obs["input_ids"][obs["attention_mask"] == 1]
    with torch.no_grad():
        ref = torch.log_softmax(agent.policy.lm(input_ids=torch.as_tensor(ids)[None]).logits[0, -1], -1)
        got = agent.policy.get_distribution({k: torch.as_tensor(v)[None].float() for k, v in obs.items()})
    torch.testing.assert_close(got.distribution.logits[0], ref, atol=1e-5, rtol=1e-5)


def test_case_e2_every_policy_action_is_in_the_action_space():
    """Case E2, DLR-RM/stable-baselines3#1718: every action the SB3 agent sends satisfies action_space.contains."""
    model, tok, env = make()
    agent = PPO(LMActorCriticPolicy, env, n_steps=32, batch_size=32, seed=0, policy_kwargs={"model": model})
    obs, _ = env.reset(seed=0)
    for _ in range(12):
        action, _ = agent.predict(obs)
        assert env.action_space.contains(np.int64(action))
        obs, _, term, trunc, _ = env.step(action)
        if term or trunc:
            obs, _ = env.reset()


class _TextObsEnv(gym.Env):
    """A user's env with string observations (what SB3 rejects)."""

    def __init__(self, vocab: int) -> None:
        self.observation_space = spaces.Text(max_length=200)
        self.action_space = spaces.Discrete(vocab)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return "write a slogan", {}

    def step(self, action):
        return "write a slogan", 0.0, True, False, {}


def test_case_e1_text_observation_fails_at_construction_naming_the_wrapper():
    """Case E1, DLR-RM/stable-baselines3#1704: an agent built on spaces.Text fails at construction with a message naming the wrapper to use;
    with TokenizeObservation the same env trains."""
    model, tok = tiny_lm(seed=0)
    env = _TextObsEnv(model.config.vocab_size)
    with pytest.raises(UnsupportedSpaceError, match="TokenizeObservation"):
        LMPPO(env, model=model)
    wrapped = TokenizeObservation(env, tok, max_length=24)
    obs, _ = wrapped.reset(seed=0)
    assert wrapped.observation_space.contains(obs)
    agent = LMPPO(wrapped, model=model, n_steps=16, batch_size=16, n_epochs=1)
    agent.learn(total_timesteps=16)
    from stable_baselines3.common.env_checker import check_env

    check_env(wrapped, warn=True)


def test_case_e1_whole_completion_actions_rejected():
    """Case E1, DLR-RM/stable-baselines3#1704/E2: a MultiDiscrete whole-completion action space is refused with the env to use instead."""
    model, tok = tiny_lm(seed=0)
    env = _TextObsEnv(model.config.vocab_size)
    env.action_space = spaces.MultiDiscrete([model.config.vocab_size] * 4)
    wrapped = TokenizeObservation(env, tok, max_length=24)
    with pytest.raises(UnsupportedSpaceError, match="TokenGeneration-v0"):
        LMPPO(wrapped, model=model)
    with pytest.raises(
        UnsupportedSpaceError, match="TokenGeneration-v0"
    ):  # also when built through SB3 directly
        PPO(LMActorCriticPolicy, wrapped, policy_kwargs={"model": model})
    env.action_space = spaces.Discrete(model.config.vocab_size + 5)
    with pytest.raises(UnsupportedSpaceError, match="LM head"):
        PPO(LMActorCriticPolicy, TokenizeObservation(env, tok, max_length=24), policy_kwargs={"model": model})
