"""Does an SB3 agent learn per-prompt decoding settings that beat the best single fixed setting?

``aigc_rl/DecodingControl-v0`` with the real frozen LM (default the embedded SmolLM2): SAC (Haarnoja et al.
2018) trains on the ``train`` split of a prompt set; then, on ``--eval-prompts`` held-out prompts of the ``eval``
split, the learned policy (deterministic action) and every fixed setting of a grid are scored with **common
random numbers**: episode ``j`` of every method uses the same prompt and the same sampling seed, so differences
are paired. The baseline reported is the best fixed setting *on the held-out prompts themselves* (an upper bound
for any fixed setting chosen in advance), and also the one that is best on ``--select-prompts`` train prompts.

Prints one JSON object (all figures, per-setting means, paired differences with standard errors).

Usage::

    AIGC_RL_CACHE=/tmp/aigc_cache python benchmarks/bench_decoding_control.py --threads 1
    python benchmarks/bench_decoding_control.py --train-episodes 300 --eval-prompts 30 --algo ppo
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

GRID = [  # (temperature, top_p, repetition_penalty)
    (0.3, 1.0, 1.0),
    (0.7, 1.0, 1.0),
    (1.0, 1.0, 1.0),
    (1.3, 1.0, 1.0),
    (0.7, 0.9, 1.3),
]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--task", default="content")
    p.add_argument("--reward", default="relevance+distinct-2")
    p.add_argument("--algo", choices=["sac", "ppo"], default="sac")
    p.add_argument("--train-episodes", type=int, default=150)
    p.add_argument("--eval-prompts", type=int, default=16)
    p.add_argument(
        "--select-prompts", type=int, default=8, help="train prompts used to pick the fixed setting"
    )
    p.add_argument("--n-samples", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--gradient-steps", type=int, default=8, help="SAC gradient steps per episode")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    import aigc_rl  # noqa: F401
    from aigc_rl.envs.text.decoding_control import DecodingControlEnv
    from aigc_rl.models import load_causal_lm

    t_start = time.perf_counter()
    model, tok = load_causal_lm(args.model, device="cpu" if not torch.cuda.is_available() else None)
    common = dict(
        model=model,
        tokenizer=tok,
        reward=args.reward,
        task=args.task,
        n_samples=args.n_samples,
        max_new_tokens=args.max_new_tokens,
    )
    train_env = DecodingControlEnv(split="train", **common)
    eval_env = DecodingControlEnv(split="eval", **{**common, "reward": train_env.reward_model})

    def run(env, policy, prompt_indices, seed0):
        out = []
        for j, idx in enumerate(prompt_indices):
            obs, _ = env.reset(seed=seed0 + j, options={"prompt_index": int(idx)})
            _, r, _, _, info = env.step(policy(obs))
            out.append((r, info["settings"], info["reward_components"]))
        return out

    # 1. train
    from stable_baselines3 import PPO, SAC

    t0 = time.perf_counter()
    if args.algo == "sac":
        agent = SAC(
            "MlpPolicy",
            train_env,
            learning_starts=32,
            batch_size=32,
            train_freq=1,
            gradient_steps=args.gradient_steps,
            learning_rate=3e-3,
            policy_kwargs={"net_arch": [64, 64]},
            seed=args.seed,
            verbose=0,
        )
    else:
        agent = PPO(
            "MlpPolicy",
            train_env,
            n_steps=32,
            batch_size=32,
            n_epochs=10,
            learning_rate=3e-4,
            policy_kwargs={"net_arch": [64, 64]},
            seed=args.seed,
            verbose=0,
        )
    train_env.reset(seed=args.seed)
    agent.learn(total_timesteps=args.train_episodes)
    train_s = time.perf_counter() - t0
    ep_rewards = [float(x) for x in agent.get_env().env_method("get_episode_rewards")[0]]  # SB3's Monitor
    half = max(1, len(ep_rewards) // 2)

    # 2. evaluate on held-out prompts with common random numbers
    held = list(range(min(args.eval_prompts, len(eval_env.prompts))))
    t0 = time.perf_counter()
    learned = run(eval_env, lambda o: agent.predict(o, deterministic=True)[0], held, 10_000)
    fixed = {}
    for s in GRID:
        a = eval_env.action_for(*s)
        fixed[s] = run(eval_env, lambda o, a=a: a, held, 10_000)
    eval_s = time.perf_counter() - t0

    # 3. the fixed setting a user would pick in advance: best on a few train prompts
    sel = list(range(min(args.select_prompts, len(train_env.prompts))))
    t0 = time.perf_counter()
    select = {}
    for s in GRID:
        a = train_env.action_for(*s)
        select[s] = float(np.mean([r for r, *_ in run(train_env, lambda o, a=a: a, sel, 20_000)]))
    select_s = time.perf_counter() - t0

    lr = np.array([r for r, *_ in learned])
    means = {s: float(np.mean([r for r, *_ in v])) for s, v in fixed.items()}
    oracle = max(means, key=means.get)
    chosen = max(select, key=select.get)

    def paired(s):
        d = lr - np.array([r for r, *_ in fixed[s]])
        return {
            "mean_diff": round(float(d.mean()), 4),
            "se": round(float(d.std(ddof=1) / np.sqrt(len(d))), 4),
        }

    # headroom for per-prompt settings: the best grid setting of each held-out prompt (optimistic: a max over
    # noisy estimates)
    per_prompt_best = np.array([[r for r, *_ in v] for v in fixed.values()]).max(axis=0)
    settings = np.array([[v for v in st.values()] for _, st, _ in learned])
    result = {
        "model": args.model,
        "algo": args.algo,
        "reward": args.reward,
        "train_episodes": args.train_episodes,
        "train_prompts": len(train_env.prompts),
        "heldout_prompts": len(held),
        "n_samples_per_episode": args.n_samples,
        "max_new_tokens": args.max_new_tokens,
        "learned_mean_reward": round(float(lr.mean()), 4),
        "learned_settings_mean": dict(
            zip(
                ["temperature", "top_p", "repetition_penalty"],
                np.round(settings.mean(0), 3).tolist(),
                strict=True,
            )
        ),
        "learned_settings_std": dict(
            zip(
                ["temperature", "top_p", "repetition_penalty"],
                np.round(settings.std(0), 3).tolist(),
                strict=True,
            )
        ),
        "fixed_mean_reward": {str(s): round(v, 4) for s, v in means.items()},
        "best_fixed_heldout": {
            "setting": list(oracle),
            "mean_reward": round(means[oracle], 4),
            "learned_minus_fixed": paired(oracle),
        },
        "best_fixed_selected_on_train": {
            "setting": list(chosen),
            "train_mean": round(select[chosen], 4),
            "heldout_mean_reward": round(means[chosen], 4),
            "learned_minus_fixed": paired(chosen),
        },
        "per_prompt_best_fixed_mean": round(float(per_prompt_best.mean()), 4),
        "train_episode_reward_first_half": round(float(np.mean(ep_rewards[:half])), 4)
        if ep_rewards
        else None,
        "train_episode_reward_second_half": round(float(np.mean(ep_rewards[half:])), 4)
        if ep_rewards
        else None,
        "learned_components": {
            k: round(float(np.mean([c[k] for *_, c in learned])), 4) for k in learned[0][2]
        },
        "seconds": {
            "train": round(train_s, 1),
            "eval": round(eval_s, 1),
            "select": round(select_s, 1),
            "total": round(time.perf_counter() - t_start, 1),
        },
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
