"""Case D2, huggingface/trl#2617: the same effective batch split differently (8 x 1 vs 2 x 4 accumulation) gives the same update."""

from __future__ import annotations

import pytest
import torch

from aigc_rl.agents.trl.trainer import build_trainer
from aigc_rl.config import TrainConfig
from aigc_rl.task import TextTask
from aigc_rl.testing import tiny_lm

PROMPTS = [f"tell me about item {i}" for i in range(8)]


def _one_step(tmp_path, per_device: int, accumulation: int) -> dict[str, torch.Tensor]:
    model, tok = tiny_lm(seed=0)
    cfg = TrainConfig(
        model="unused",
        prompts=None,
        reward="distinct-1",
        max_steps=1,
        num_generations=4,
        prompts_per_step=2,
        max_new_tokens=6,
        save_steps=10,
        device="cpu",
        learning_rate=1e-2,
        output_dir=str(tmp_path),
    )
    task = TextTask(prompts=PROMPTS, reward="distinct-1", tokenizer=tok, max_new_tokens=6)
    # The same 8 completions are generated in one batch either way (per_device x steps_per_generation = 8);
    # plain SGD so that the parameter change is proportional to the gradient.
    trainer = build_trainer(
        cfg,
        task,
        model,
        tok,
        tmp_path,
        use_cuda=False,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation,
        steps_per_generation=accumulation,
        optim="sgd",
    )
    torch.manual_seed(0)
    trainer.train()
    return {k: v.detach().clone() for k, v in trainer.model.named_parameters() if "lora_B" in k}


@pytest.mark.slow
def test_same_effective_batch_same_update(tmp_path):
    """Case D2 (trl #2617): 8 per device x 1 step == 2 per device x 4 accumulation steps."""
    a = _one_step(tmp_path / "a", 8, 1)
    b = _one_step(tmp_path / "b", 2, 4)
    assert a.keys() == b.keys() and any(v.abs().sum() > 0 for v in a.values())
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6)
