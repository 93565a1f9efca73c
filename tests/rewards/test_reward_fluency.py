"""The fluency reward: values equal a hand-padded forward pass bit for bit, and scoring through the policy's
base model (LoRA adapter disabled) equals scoring with a frozen copy of the base bit for bit."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from aigc_rl.rewards import make_composite
from aigc_rl.rewards.quality import Fluency
from aigc_rl.testing import tiny_lm

TEXTS = [
    "the cat sat on the mat.",
    "a dog ran in the park, and the sun is warm today.",
    "",
    "zebra zoo zone zero zigzag zebra zoo",
    "explain why the sky is blue in one sentence.",
]


@torch.no_grad()
def _by_hand(model, tok, texts: list[str], batch_size: int) -> list[float]:
    """Mean token log-prob after BOS, right-padded one row at a time (the loop Fluency used before)."""
    start = tok.bos_token_id
    ids = [tok(t, add_special_tokens=False)["input_ids"] if t else [] for t in texts]
    out = [-math.log(len(tok))] * len(texts)
    todo = [i for i, x in enumerate(ids) if x]
    for b in range(0, len(todo), batch_size):
        chunk = todo[b : b + batch_size]
        seqs = [[start] + ids[i] for i in chunk]
        width = max(len(s) for s in seqs)
        input_ids = torch.full((len(seqs), width), start, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, s in enumerate(seqs):
            input_ids[r, : len(s)] = torch.tensor(s)
            mask[r, : len(s)] = 1
        logits = model(input_ids=input_ids, attention_mask=mask).logits[:, :-1].float()
        logp = torch.log_softmax(logits, dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
        m = mask[:, 1:].float()
        mean = (logp * m).sum(1) / m.sum(1)
        for r, i in enumerate(chunk):
            out[i] = float(mean[r])
    return out


def test_fluency_equals_a_hand_padded_forward_exactly():
    model, tok = tiny_lm(seed=4, init_std=0.5)
    for batch_size in (1, 2, 16):
        got = Fluency(model=model, tokenizer=tok, batch_size=batch_size)(TEXTS)
        assert got == _by_hand(model, tok, TEXTS, batch_size)
    assert got[2] == -math.log(len(tok))  # empty completion: the uniform floor
    assert len(set(got)) == len(got)  # distinct texts, distinct values


def _policy_and_copy(seed: int = 0):
    """A PEFT policy with a LoRA adapter that changes its outputs, and a frozen copy of its base."""
    from peft import LoraConfig, get_peft_model

    base, tok = tiny_lm(seed=seed, init_std=0.5)
    frozen = copy.deepcopy(base)  # what Fluency(model=<name>) loads: the same weights, a second copy
    lora = LoraConfig(
        r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear", init_lora_weights=False
    )
    torch.manual_seed(seed)
    policy = get_peft_model(base, lora)
    return policy, frozen, tok


def test_adapter_disabled_equals_frozen_copy_exactly():
    policy, frozen, tok = _policy_and_copy()
    want = Fluency(model=frozen, tokenizer=tok, batch_size=2)(TEXTS)
    shared = Fluency(model=policy, tokenizer=tok, batch_size=2, adapter_disabled=True)
    assert shared(TEXTS) == want  # exact float equality, same batches
    # the adapter does change the model: scoring with it enabled gives other values
    with_adapter = Fluency(model=policy, tokenizer=tok, batch_size=2)(TEXTS)
    assert with_adapter != want
    assert with_adapter[2] == want[2] == pytest.approx(-torch.log(torch.tensor(float(len(tok)))).item())


def test_shared_scoring_leaves_the_policy_as_it_was_and_follows_training():
    policy, frozen, tok = _policy_and_copy(seed=1)
    policy.train()
    trainable = {n for n, p in policy.named_parameters() if p.requires_grad}
    shared = Fluency(model=policy, tokenizer=tok, adapter_disabled=True)
    before = shared(TEXTS)
    assert policy.training  # not switched to eval mode
    assert {n for n, p in policy.named_parameters() if p.requires_grad} == trainable  # not frozen
    # one optimiser step on the adapter: the base (the reference) is untouched, so the values stay equal
    opt = torch.optim.SGD([p for p in policy.parameters() if p.requires_grad], lr=0.5)
    ids = tok(TEXTS[1], return_tensors="pt")["input_ids"]
    policy(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    assert shared(TEXTS) == before == Fluency(model=frozen, tokenizer=tok)(TEXTS)


def test_a_wrapped_forward_of_the_peft_model_is_not_used():
    # accelerate's mixed precision replaces the prepared model's forward by an autocast wrapper; a separately
    # loaded reference is not wrapped, so the shared path calls the base model, not the wrapper
    policy, frozen, tok = _policy_and_copy(seed=2)
    policy.forward = torch.autocast("cpu", dtype=torch.bfloat16)(policy.forward)
    want = Fluency(model=frozen, tokenizer=tok)(TEXTS)
    assert Fluency(model=policy, tokenizer=tok, adapter_disabled=True)(TEXTS) == want


def test_share_policy_base_in_a_composite_before_the_first_score():
    policy, frozen, tok = _policy_and_copy(seed=3)
    prompts = ["write a slogan"] * len(TEXTS)
    reward = make_composite(
        "quality+creativity", reward_kwargs={"fluency": {"model": frozen, "tokenizer": tok}}
    )
    want = reward.compute(TEXTS, prompts)
    shared = make_composite(
        "quality+creativity", reward_kwargs={"fluency": {"model": "never-loaded-name", "device": "cpu"}}
    )
    fluency = next(c for c, _ in shared.components if isinstance(c, Fluency))
    fluency.share_policy_base(policy, tok)
    assert shared.compute(TEXTS, prompts) == want


def test_adapter_disabled_needs_a_peft_model_and_its_tokenizer():
    base, tok = tiny_lm()
    with pytest.raises(ValueError, match="needs a PEFT model"):
        Fluency(model=base, tokenizer=tok, adapter_disabled=True)
    with pytest.raises(ValueError, match="needs a PEFT model"):
        Fluency(adapter_disabled=True)
    policy, _, _ = _policy_and_copy()
    with pytest.raises(ValueError, match="needs the policy's tokenizer"):
        Fluency(model=policy, adapter_disabled=True)
    shared = Fluency(model="smollm2-135m-instruct", device="cuda")  # would load its copy on the GPU
    with pytest.raises(ValueError, match="would load its reference model on cuda but the policy is on cpu"):
        shared.share_policy_base(policy, tok)
    assert not shared.adapter_disabled
