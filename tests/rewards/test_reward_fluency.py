"""The fluency reward: values equal a hand-padded forward pass bit for bit."""

from __future__ import annotations

import math

import torch

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
