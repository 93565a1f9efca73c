"""Rollouts sampled with the LoRA adapter merged (agents/trl/merged.py): same policy, base restored exactly."""

from __future__ import annotations

import pytest
import torch

from aigc_rl.agents.trl.merged import lora_merged, merge_for_generation
from aigc_rl.testing import tiny_lm


def _peft(seed: int = 0, dtype: torch.dtype = torch.float32):
    from peft import LoraConfig, get_peft_model

    model, tok = tiny_lm(seed=seed, init_std=0.2)
    policy = get_peft_model(
        model.to(dtype),
        LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # a trained-looking adapter: B is zero after initialisation
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen).to(dtype) * 0.2)
    return policy.eval(), tok


def _base_weights(policy):
    return {n: p.detach().clone() for n, p in policy.named_parameters() if "lora_" not in n}


def _logits(policy, ids):
    with torch.no_grad():
        return policy(input_ids=ids).logits


def test_merged_block_is_the_same_policy_and_restores_the_base_bit_for_bit():
    policy, tok = _peft()
    ids = torch.tensor([tok("Write a slogan for a bakery.").input_ids])
    before, weights = _logits(policy, ids), _base_weights(policy)
    with torch.no_grad(), policy.disable_adapter():
        base_logits = policy(input_ids=ids).logits
    assert not torch.allclose(before, base_logits, atol=1e-3)  # the adapter changes the policy
    with lora_merged(policy) as merged:
        assert merged is True
        inside = _logits(policy, ids)
        changed = _base_weights(policy)
    torch.testing.assert_close(inside, before, rtol=1e-5, atol=1e-5)  # same function up to rounding
    assert any(not torch.equal(changed[n], w) for n, w in weights.items())  # the merge did happen
    after = _base_weights(policy)
    assert all(torch.equal(after[n], w) for n, w in weights.items())  # base restored exactly
    assert torch.equal(_logits(policy, ids), before)  # the adapter is active again, unmerged
    with torch.no_grad(), policy.disable_adapter():  # the reference model (adapter disabled) is unchanged
        assert torch.equal(policy(input_ids=ids).logits, base_logits)


def test_merged_block_restores_the_base_after_an_exception():
    policy, _ = _peft()
    weights = _base_weights(policy)
    with pytest.raises(RuntimeError, match="boom"), lora_merged(policy):
        raise RuntimeError("boom")
    after = _base_weights(policy)
    assert all(torch.equal(after[n], w) for n, w in weights.items())


def test_no_merge_where_it_would_change_the_policy_or_there_is_nothing_to_merge():
    policy, _ = _peft()
    with policy.disable_adapter(), lora_merged(policy) as merged:  # sampling the base: leave it alone
        assert merged is False
    bf16, _ = _peft(dtype=torch.bfloat16)  # a merged bf16 weight would round the update away
    with lora_merged(bf16) as merged:
        assert merged is False
    sharded, _ = _peft()  # DeepSpeed ZeRO-3 marks its partitioned parameters with ds_id
    next(m for m in sharded.modules() if hasattr(m, "lora_A")).get_base_layer().weight.ds_id = 0
    with lora_merged(sharded) as merged:
        assert merged is False
    plain, _ = tiny_lm()
    with lora_merged(plain) as merged:
        assert merged is False
    assert merge_for_generation(plain) is False and merge_for_generation(bf16) is False


def test_merged_generation_samples_the_same_tokens_and_leaves_the_base_unchanged():
    policy, tok = _peft()
    ids = torch.tensor([tok("Write a headline about rain.").input_ids] * 3)
    kwargs = dict(do_sample=True, max_new_tokens=12, pad_token_id=tok.pad_token_id, top_k=0, top_p=1.0)
    torch.manual_seed(3)
    plain = policy.generate(input_ids=ids, **kwargs)
    weights = _base_weights(policy)
    assert merge_for_generation(policy) is True
    assert merge_for_generation(policy) is False  # wrapped once only
    torch.manual_seed(3)
    merged = policy.generate(input_ids=ids, **kwargs)
    assert torch.equal(merged, plain)  # the same policy: rounding does not flip a sampled token here
    after = _base_weights(policy)
    assert all(torch.equal(after[n], w) for n, w in weights.items())
    torch.manual_seed(3)  # a second call restores from the copy made at the first: still exact
    assert torch.equal(policy.generate(input_ids=ids, **kwargs), plain)
    after = _base_weights(policy)
    assert all(torch.equal(after[n], w) for n, w in weights.items())


def test_training_samples_its_rollouts_merged(tiny_model_dir, prompt_file, tmp_path, monkeypatch):
    import contextlib

    import aigc_rl.agents.trl.merged as merged_mod
    from aigc_rl.testing import tiny_train_config
    from aigc_rl.train import run_train

    calls: list[bool] = []
    real = merged_mod.lora_merged

    @contextlib.contextmanager
    def spy(model, *args):
        with real(model, *args) as did:
            calls.append(did)
            yield did

    monkeypatch.setattr(merged_mod, "lora_merged", spy)
    cfg = tiny_train_config(tiny_model_dir, prompt_file, tmp_path / "run", reward="distinct-2:1", max_steps=2)
    run_train(cfg)
    assert calls == [True, True]  # one merged generate call per GRPO step
