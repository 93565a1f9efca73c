"""SB3 PPO trains a causal LM token by token on ``aigc_rl/TokenGeneration-v0`` (tiny random Llama, CPU, ~1 min).

The reward counts the letter "e" in the completion (per generated token), a simple signal that a policy can
only raise by changing which tokens it emits. The policy is :class:`aigc_rl.agents.sb3.LMActorCriticPolicy`
(LoRA adapter on every linear layer + value head) trained by SB3's PPO. Printed (one JSON line): the exact
expected reward of the first token (from the policy's probabilities, no sampling noise) and the mean episode
reward of sampled rollouts on fixed seeds, before and after training.

Usage::

    python examples/sb3_token_ppo.py --timesteps 2048
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

PROMPTS = ["write a slogan", "the cat sat", "zebra"]


def e_reward(completions, prompts=None, **kw):
    """Letters 'e' per generated token (4 tokens per episode)."""
    return [c.count("e") / 4 for c in completions]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--timesteps", type=int, default=2048)
    p.add_argument("--eval-episodes", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from aigc_rl.agents.sb3 import LMPPO
    from aigc_rl.envs.text.token_generation import TokenGenerationEnv
    from aigc_rl.testing import tiny_lm

    model, tok = tiny_lm(seed=args.seed, init_std=0.2)

    def make_env():
        return TokenGenerationEnv(
            model=model,
            tokenizer=tok,
            reward=e_reward,
            prompts=PROMPTS,
            max_prompt_tokens=24,
            max_new_tokens=4,
            stop_token_ids=(),
        )

    env, eval_env = make_env(), make_env()
    agent = LMPPO(
        env,
        model=model,
        tokenizer=tok,
        n_steps=128,
        batch_size=64,
        n_epochs=4,
        learning_rate=3e-3,
        gamma=1.0,
        seed=args.seed,
    )
    e_count = torch.tensor([tok.decode([i]).count("e") / 4 for i in range(env.action_space.n)])

    def expected_first_token() -> float:
        vals = []
        for i in range(len(PROMPTS)):
            obs, _ = eval_env.reset(seed=0, options={"prompt_index": i})
            with torch.no_grad():
                probs = agent.policy.get_distribution(
                    {k: torch.as_tensor(v)[None] for k, v in obs.items()}
                ).distribution.probs
            vals.append(float((probs[0] * e_count).sum()))
        return float(np.mean(vals))

    def sampled() -> float:
        torch.manual_seed(1234)
        rs = []
        for ep in range(args.eval_episodes):
            obs, _ = eval_env.reset(seed=10_000 + ep)
            done, ret = False, 0.0
            while not done:
                action, _ = agent.predict(obs, deterministic=False)
                obs, r, term, trunc, _ = eval_env.step(action)
                ret += r
                done = term or trunc
            rs.append(ret)
        return float(np.mean(rs))

    before = (expected_first_token(), sampled())
    t0 = time.perf_counter()
    agent.learn(total_timesteps=args.timesteps)
    seconds = time.perf_counter() - t0
    after = (expected_first_token(), sampled())
    trainable = sum(p.numel() for p in agent.policy.parameters() if p.requires_grad)
    print(
        json.dumps(
            {
                "timesteps": args.timesteps,
                "episodes": args.timesteps // 4,
                "trainable_parameters": trainable,
                "expected_first_token_reward_before": round(before[0], 4),
                "expected_first_token_reward_after": round(after[0], 4),
                "sampled_episode_reward_before": round(before[1], 4),
                "sampled_episode_reward_after": round(after[1], 4),
                "eval_episodes": args.eval_episodes,
                "train_seconds": round(seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
