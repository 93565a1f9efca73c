"""A GRPO run whose fluency reward scores through the policy's base (adapter disabled) trains exactly as one
whose fluency loads its own copy of the base (the main job's set-up, ``aigc_rl.train.make_reward``)."""

from __future__ import annotations

import pytest
import torch

from aigc_rl.agents.trl.trainer import build_trainer
from aigc_rl.config import TrainConfig
from aigc_rl.models import load_causal_lm
from aigc_rl.rewards import make_composite
from aigc_rl.rewards.quality import Fluency
from aigc_rl.task import TextTask
from aigc_rl.testing import save_tiny_lm

PROMPTS = [f"write a short line about the {w}" for w in ("sun", "sea", "cat", "dog", "red bike", "tree")]
REWARD = "fluency:0.1,distinct-2:1.0"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_lm(tmp_path_factory.mktemp("tiny-llama"), seed=0, init_std=0.3)


def _train(model_dir, out, shared: bool) -> tuple[list[dict], dict[str, torch.Tensor], Fluency]:
    from transformers import set_seed

    cfg = TrainConfig(
        model=str(model_dir),
        reward=REWARD,
        max_steps=2,
        num_generations=2,
        prompts_per_step=2,
        max_new_tokens=8,
        save_steps=10,
        device="cpu",
        learning_rate=5e-2,
        output_dir=str(out),
    )
    # as make_reward builds it; device pinned to the policy's (the default, CUDA when available, would differ)
    reward = make_composite(REWARD, reward_kwargs={"fluency": {"model": cfg.model, "device": "cpu"}})
    set_seed(cfg.seed)
    model, tok = load_causal_lm(cfg.model, device="cpu")
    task = TextTask(prompts=PROMPTS, reward=reward, tokenizer=tok, max_new_tokens=cfg.max_new_tokens)
    trainer = build_trainer(cfg, task, model, tok, out, use_cuda=False)
    fluency = next(c for c, _ in reward.components if isinstance(c, Fluency))
    if shared:
        fluency.share_policy_base(trainer.model, tok)
    trainer.train()
    timing = ("time", "runtime", "per_second")  # wall-clock figures differ from run to run
    logs = [
        {k: v for k, v in r.items() if not any(t in k for t in timing)} for r in trainer.state.log_history
    ]
    lora = {k: v.detach().clone() for k, v in trainer.model.named_parameters() if "lora_" in k}
    return logs, lora, fluency


def test_shared_fluency_run_is_bit_identical(model_dir, tmp_path):
    logs_a, lora_a, flu_a = _train(model_dir, tmp_path / "a", shared=False)
    logs_b, lora_b, flu_b = _train(model_dir, tmp_path / "b", shared=True)
    assert flu_a._model is not None and not flu_a.adapter_disabled  # a: loaded its own copy
    assert flu_b.adapter_disabled and hasattr(flu_b._model, "disable_adapter")  # b: scored through the policy
    assert any("rewards/fluency/mean" in rec for rec in logs_a)
    assert logs_a == logs_b  # rewards, KL, loss, completion lengths: equal floats at every step
    assert lora_a.keys() == lora_b.keys() and any(
        v.abs().sum() > 0 for k, v in lora_a.items() if "lora_B" in k
    )
    assert all(torch.equal(lora_a[k], lora_b[k]) for k in lora_a)
