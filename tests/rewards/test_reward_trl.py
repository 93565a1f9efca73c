"""Every text reward passes unchanged as a TRL ``reward_funcs`` entry: a real GRPOTrainer step on a tiny model."""

from __future__ import annotations

import math

import pytest
import torch
from datasets import Dataset
from reward_models import make_causal_lm, make_classifier, make_tokenizer

from aigc_rl.rewards import FunctionReward, RewardOutputError, make, make_composite
from aigc_rl.rewards._builtin import TEXT_REWARDS

trl = pytest.importorskip("trl")

PROMPTS = ["tell me about the cat", "write a short story about the dog"]
REFS = [["the cat sat on the mat"], ["a dog ran in the park", "the dog ran"]]


def _trainer(tmp_path, tok, policy, reward_funcs):
    from trl import GRPOConfig, GRPOTrainer

    args = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        max_steps=1,
        learning_rate=1e-2,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        seed=0,
        bf16=False,
        dataloader_num_workers=0,
    )
    data = Dataset.from_dict({"prompt": PROMPTS, "references": REFS})
    return GRPOTrainer(
        model=policy, processing_class=tok, reward_funcs=reward_funcs, args=args, train_dataset=data
    )


def _rewards(tok):
    """One instance of every text reward, small models for the model-based ones (each its own copy: a reward
    model is frozen, the policy must not be)."""
    # the reward model's own, different tokenizer (case C3, huggingface/trl#1674)
    rm_tok = make_tokenizer(reverse=True)
    kwargs = {
        "fluency": {"model": make_causal_lm(tok, seed=1), "tokenizer": tok},
        "judge": {"model": make_causal_lm(tok, seed=2), "tokenizer": tok},
        "reward-model": {"model": make_classifier(rm_tok, seed=3), "tokenizer": rm_tok},
        "novelty": {"corpus": ["the cat sat on the mat"]},
        "semantic-novelty": {"corpus": ["the cat sat on the mat"]},
        "length": {"min_words": 2, "max_words": 6},
    }
    return [make(n, **kwargs.get(n, {})) for n in TEXT_REWARDS]


def test_every_reward_is_a_trl_reward_function_in_a_grpo_step(tmp_path):
    tok = make_tokenizer()
    policy = make_causal_lm(tok, seed=0).train()
    rewards = _rewards(tok)
    trainer = _trainer(tmp_path, tok, policy, rewards)
    before = {k: v.detach().clone() for k, v in policy.named_parameters()}
    trainer.train()
    logs = {k: v for entry in trainer.state.log_history for k, v in entry.items()}
    for name in TEXT_REWARDS:
        assert f"rewards/{name}/mean" in logs, f"TRL did not log reward {name}"
        assert math.isfinite(logs[f"rewards/{name}/mean"]), name
    changed = [k for k, v in trainer.model.named_parameters() if not torch.equal(v.detach().cpu(), before[k])]
    assert changed, "no policy parameter changed after one GRPO step"


def test_composite_in_grpo_logs_components(tmp_path):
    tok = make_tokenizer()
    policy = make_causal_lm(tok, seed=0).train()
    comp = make_composite("bleu:1.0,distinct-2:0.5,harm:1.0")
    trainer = _trainer(tmp_path, tok, policy, [comp])
    trainer.train()
    logs = {k: v for entry in trainer.state.log_history for k, v in entry.items()}
    assert "rewards/reward/mean" in logs
    # every component's raw and weighted value reaches TRL's logs through log_metric
    assert {"rewards/bleu", "rewards/bleu/weighted", "rewards/distinct-2", "rewards/harm/weighted"} <= set(
        logs
    )
    assert set(comp.last_components) >= {"bleu", "distinct-2", "harm", "bleu/weighted"}
    assert len(comp.last_components["bleu"]) == 4  # one prompt x 4 generations per step


def test_case_a1_bad_reward_stops_grpo_before_any_update(tmp_path):
    """Case A1, huggingface/trl#6533: a reward returning one value for a group of completions fails the step with an error naming
    the reward and the counts, before any parameter update."""
    tok = make_tokenizer()
    policy = make_causal_lm(tok, seed=0).train()
    bad = FunctionReward(lambda completions, **kw: [1.0], name="one-value")
    trainer = _trainer(tmp_path, tok, policy, [make("distinct-1"), bad])
    before = {k: v.detach().clone() for k, v in policy.named_parameters()}
    with pytest.raises(RewardOutputError, match=r"'one-value': expected 4 values, got 1"):
        trainer.train()
    assert all(torch.equal(v.detach().cpu(), before[k]) for k, v in trainer.model.named_parameters())
