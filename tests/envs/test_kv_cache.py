"""CachedLM's prefill batch (left padding by ``pad_sequence``) is the one the hand-written loop built."""

from __future__ import annotations

import pytest
import torch

from aigc_rl.envs.text.kv_cache import CachedLM
from aigc_rl.testing import tiny_lm


def _by_hand(prefixes: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The left-padded ids and mask as CachedLM built them before (one row at a time)."""
    width = max(len(p) for p in prefixes)
    ids = torch.full((len(prefixes), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prefixes), width), dtype=torch.long)
    for r, p in enumerate(prefixes):
        if p:
            ids[r, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[r, width - len(p) :] = 1
    return ids, mask


@pytest.mark.parametrize(
    "prefixes",
    [[[5, 6, 7], [8], [], [9, 10]], [[], []], [[3, 4]], [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]],
)
def test_prefill_batch_equals_the_hand_built_one(prefixes):
    model, tok = tiny_lm()
    pad = int(tok.pad_token_id)
    lm = CachedLM(model, len(prefixes), pad)
    seen = []
    call = lm._call
    lm._call = lambda ids, mask, pos, cache: seen.append((ids, mask, pos)) or call(ids, mask, pos, cache)
    _, mask = lm._prefill(prefixes)
    want_ids, want_mask = _by_hand(prefixes, pad)
    assert mask.dtype == torch.long and torch.equal(mask, want_mask)
    if want_ids.shape[1] == 0:
        assert seen == [] and mask.shape == (len(prefixes), 0)  # nothing to run
        return
    (ids, fed_mask, pos) = seen[0]
    assert ids.dtype == torch.long and torch.equal(ids, want_ids) and torch.equal(fed_mask, want_mask)
    assert torch.equal(pos, (want_mask.cumsum(-1) - 1).masked_fill(want_mask == 0, 0))


def test_cached_logits_are_bit_identical_to_a_hand_padded_forward():
    model, tok = tiny_lm(init_std=0.5)
    pad = int(tok.pad_token_id)
    seqs = [[5, 6, 7, 8], [9, 10], [11, 12, 13]]
    lm = CachedLM(model, len(seqs), pad)
    lm.set_rows(range(len(seqs)), seqs)
    got = lm.forward()
    ids, mask = _by_hand(seqs, pad)
    pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    from transformers import DynamicCache

    with torch.no_grad():
        cache = DynamicCache(config=model.config)
        kw = {lm._cache_kw: cache, "use_cache": True}
        model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=pos[:, :-1], **kw)
        want = model(input_ids=ids[:, -1:], attention_mask=mask, position_ids=pos[:, -1:], **kw).logits[:, -1]
    assert torch.equal(got, want.float())
