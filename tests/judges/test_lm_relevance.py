"""gemma-relevance (PMI of reply and request + log p(EOS)) and its copy rule, on a tiny saved Llama (no Gemma).

The reference values are computed here the plain way: one unpadded sequence at a time through
``model(ids).logits``; the judge batches, right-pads, sorts by length and applies the LM head only where needed.
"""

from __future__ import annotations

import pytest
import torch

from aigc_rl.judges import get_judge, lm
from aigc_rl.judges.calibration import design_prompt_ids, load_good
from aigc_rl.judges.text import copied_spans
from aigc_rl.testing import save_tiny_lm

PROMPT = "write a slogan for a red bike."


def test_copied_spans_reference_values():
    prompt = "Write a catchy slogan for a waterproof hiking jacket in under ten words."
    c = "Here's a catchy slogan for a waterproof hiking jacket: stay dry, friend!"
    assert copied_spans(c, prompt) == [(7, 54)]
    assert c[7:54] == "a catchy slogan for a waterproof hiking jacket:"  # punctuation after a copy is copy
    # two copied runs joined by a quote and a comma are one span; case does not hide a copy
    c2 = 'HIKING JACKET IN under, "ten words." Rain? Fine.'
    assert copied_spans(c2, prompt) == [(0, 36)] and c2[:36] == 'HIKING JACKET IN under, "ten words."'
    assert copied_spans("Stay dry on every trail.", prompt) == []
    assert copied_spans("", prompt) == [] and copied_spans("hiking jacket", prompt) == []  # < 3 words
    assert copied_spans(prompt, prompt) == [(0, len(prompt))]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = str(save_tiny_lm(tmp_path_factory.mktemp("lm") / "tiny", init_std=0.3))
    model, tok = lm.load_gemma("cpu", path)
    return path, model, tok


def _reference(model, tok, completion: str, prompt: str) -> tuple[float, float]:
    """(relevance, fluency) the plain way, from the definitions in the docstrings."""
    c = completion.strip()
    ctx = tok(prompt.strip() + "\n").input_ids
    enc = tok(c, add_special_tokens=False, return_offsets_mapping=True)
    ids, eos = enc.input_ids, tok.eos_token_id
    with torch.no_grad():
        lp = torch.log_softmax(model(torch.tensor([ctx + ids + [eos]])).logits[0], -1)
        cond = [float(lp[len(ctx) - 1 + t, x]) for t, x in enumerate([*ids, eos])]
        un = torch.log_softmax(model(torch.tensor([[tok.bos_token_id, *ids]])).logits[0], -1)
        uncond = [float(un[t, x]) for t, x in enumerate(ids)]
    spans = copied_spans(c, prompt)
    keep = [t for t, (a, b) in enumerate(enc.offset_mapping) if not any(x < b and a < y for x, y in spans)]
    return cond[-1] + sum(cond[t] - uncond[t] for t in keep), -sum(cond) / len(cond)


def test_gemma_relevance_matches_the_plain_computation(tiny):
    path, model, tok = tiny
    comps = [
        "the red bike is fast and warm.",
        "a dog ran in the park.",
        "",
        "write a slogan for a red bike.",  # a verbatim copy: no token kept
        "Here is a slogan for a red bike: zebra zoo zone zero zigzag!",
    ]
    prompts = [PROMPT] * 4 + ["Write a slogan for a red bike"]
    lm._MEMO.clear()
    got = get_judge("gemma-relevance", model=path, device="cpu", batch_size=2)(comps, prompts)
    ref = [_reference(model, tok, c, p) for c, p in zip(comps, prompts, strict=True)]
    assert got == pytest.approx([r[0] for r in ref], abs=1e-4)
    # the copy and the empty completion score only log p(<eos> | prompt, completion)
    ctx = tok(PROMPT + "\n").input_ids
    with torch.no_grad():
        after_prompt = torch.log_softmax(model(torch.tensor([ctx])).logits[0, -1], -1)
    assert got[2] == pytest.approx(float(after_prompt[tok.eos_token_id]), abs=1e-4)
    copy_ids = tok(PROMPT, add_special_tokens=False).input_ids
    with torch.no_grad():
        after_copy = torch.log_softmax(model(torch.tensor([ctx + copy_ids])).logits[0, -1], -1)
    assert got[3] == pytest.approx(float(after_copy[tok.eos_token_id]), abs=1e-4)
    # batch size does not change a value; fluency reuses the conditional pass (no second forward)
    lm._MEMO.clear()
    single = get_judge("gemma-relevance", model=path, device="cpu", batch_size=1)(comps, prompts)
    assert single == pytest.approx(got, abs=1e-4)
    calls = []
    real_hidden = lm._hidden
    lm._hidden = lambda *a, **k: calls.append(1) or real_hidden(*a, **k)
    try:
        flu = get_judge("gemma-fluency", model=path, device="cpu")(comps, prompts)
    finally:
        lm._hidden = real_hidden
    assert calls == [] and flu == pytest.approx([r[1] for r in ref], abs=1e-4)


def test_gemma_relevance_describes_itself():
    judge = get_judge("gemma-relevance")
    assert judge.describe()["direction"] == "higher" and judge.kind == "quality"
    assert judge.range == (float("-inf"), float("inf")) and "PMI" in judge.source
    with pytest.raises(ValueError, match="judge gemma-relevance: 2 completions but 1 prompts"):
        judge(["a", "b"], ["p"])


def test_design_half_of_the_calibration_prompts():
    half = design_prompt_ids()
    ids = {g["id"] for g in load_good()}
    assert len(half) == 21 and half < ids and design_prompt_ids(0) == half
    assert sorted(i.split("-")[0] for i in half) == ["content"] * 7 + ["education"] * 7 + ["support"] * 7
    assert {"content-0002", "support-0010", "education-0012"} <= half and "content-0001" not in half
    assert design_prompt_ids(1) != half
