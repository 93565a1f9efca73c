"""A training script for one reward, written against the Python API.

It defines a custom reward (a plain function, validated like the built-ins), composes it with built-in
rewards, builds the TextCompletion task, and trains the embedded SmolLM2 with GRPO + LoRA for a few steps.

    python examples/custom_reward_grpo.py --max-steps 5
"""

from __future__ import annotations

import argparse

import gymnasium as gym

import aigc_rl  # noqa: F401  (registers the Gymnasium ids)
from aigc_rl.config import TrainConfig
from aigc_rl.rewards import CompositeReward, FunctionReward, make


def exclamation_free(completions, prompts=None, **kwargs):
    """1.0 for a completion without '!', else 0.0 (calmer ad copy)."""
    return [0.0 if "!" in c else 1.0 for c in completions]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-steps", type=int, default=5)
    parser.add_argument("--output-dir", default="runs/example-custom-reward")
    args = parser.parse_args()

    reward = CompositeReward(
        [
            (make("relevance"), 1.0),
            (make("distinct-2"), 0.5),
            (FunctionReward(exclamation_free, name="no-exclamation", value_range=(0.0, 1.0)), 0.3),
        ]
    )
    # The same reward object scores episodes of the Gymnasium env ...
    env = gym.make("aigc_rl/TextCompletion-v0", task="content", reward=reward)
    obs, info = env.reset(seed=0)
    _, r, *_, step_info = env.step("Fresh coffee, calm mornings.")
    print("prompt:", info["prompt"], "\nreward:", round(r, 3), step_info["rewards"])

    # ... and is handed, unchanged, to the TRL agent (GRPO with a LoRA adapter).
    from aigc_rl.agents.trl.trainer import build_trainer
    from aigc_rl.models import load_causal_lm
    from aigc_rl.train import prepare_run_dir

    cfg = TrainConfig(max_steps=args.max_steps, output_dir=args.output_dir, overwrite=True)
    run_dir = prepare_run_dir(cfg)
    model, tokenizer = load_causal_lm(cfg.model)
    task = env.unwrapped.task
    task.tokenizer = tokenizer
    trainer = build_trainer(cfg, task, model, tokenizer, run_dir, use_cuda=False)
    trainer.train()
    trainer.model.save_pretrained(run_dir / "adapter")
    print("adapter written to", run_dir / "adapter")


if __name__ == "__main__":
    main()
