"""The rewards that resist the hacks seen in trained policies (issue 11), registered by name, with reference
values computed by hand: no-copy-relevance, completion, ead, soft-overlong."""

from __future__ import annotations

import numpy as np
import pytest

from aigc_rl.rewards import make, quality
from aigc_rl.rewards.registry import reward_info


def test_metadata_by_hand():
    got = {
        n: (reward_info(n).kind, reward_info(n).value_range, reward_info(n).needs)
        for n in ("no-copy-relevance", "completion", "ead", "soft-overlong")
    }
    assert got == {
        "no-copy-relevance": ("quality", (0.0, 1.0), ("prompt",)),
        "completion": ("quality", (0.0, 1.0), ()),
        "ead": ("creativity", (0.0, float("inf")), ()),
        "soft-overlong": ("quality", (-1.0, 0.0), ()),
    }


def test_no_copy_relevance_reference_values(monkeypatch):
    class Enc:  # 2-d embeddings: "bread"/"bakery" -> x axis, the rest -> y axis, "warm" -> 45 degrees
        def encode(self, texts, **kwargs):
            rows = []
            for t in texts:
                if "warm" in t:
                    rows.append([np.sqrt(0.5), np.sqrt(0.5)])
                elif "bread" in t or "bakery" in t:
                    rows.append([1.0, 0.0])
                else:
                    rows.append([0.0, 1.0])
            return np.array(rows, dtype=np.float32)

    seen = []
    monkeypatch.setattr(
        quality, "load_sentence_transformer", lambda model, device: seen.append(model) or Enc()
    )
    r = make("no-copy-relevance")
    prompt = [{"role": "system", "content": "be nice"}, {"role": "user", "content": "A slogan for a bakery"}]
    comps = [
        "A slogan for a bakery",
        "warm buns",
        "fresh bread",
        "cats",
        "",
        "a slogan for a bakery: fresh bread",
    ]
    out = r(comps, [prompt, prompt, prompt, "A slogan for a bakery", prompt, prompt])
    # a pure restatement -> nothing left -> 0; cos 45 degrees = sqrt(0.5); on-topic 1; off-topic 0; empty 0;
    # restated prompt + answer keeps the answer ("fresh bread"): 1
    assert out == pytest.approx([0.0, np.sqrt(0.5), 1.0, 0.0, 0.0, 1.0], abs=1e-6)
    assert seen == [None]  # the default encoder (all-MiniLM-L6-v2), loaded once
    with pytest.raises(ValueError, match="needs the prompts"):
        r(["x"])


def test_completion_reward_and_trl_completion_ids():
    r = make("completion", eos_token_id=2)
    comps = ["Done.", "cut off", ""]
    assert r(comps) == [1.0, 0.0, 0.0]  # sentence end rule
    # TRL passes completion_ids: EOS present = finished (kept although other TRL keywords are dropped)
    assert r(comps, completion_ids=[[5, 2], [5, 6], [2]], trainer_state=object()) == [1.0, 0.0, 0.0]
    assert r(comps, finished=[False, True, True]) == [0.0, 1.0, 0.0]  # the sampler's flags win
    assert make("completion")(comps, completion_ids=[[5, 2], [5, 2], [2]]) == [1.0, 0.0, 0.0]  # no eos id


def test_ead_reference_values():
    r = make("ead")
    v = 49_152
    # "the cat the cat": bigrams the-cat, cat-the, the-cat: N=2, C=3
    assert r(["the cat the cat", "one", ""]) == pytest.approx([2 / (v * (1 - ((v - 1) / v) ** 3)), 0.0, 0.0])
    assert make("ead", n=1, vocab_size=4)(["a a b"]) == pytest.approx([32 / 37])
    with pytest.raises(ValueError, match="ead needs integers"):
        make("ead", n=0)


def test_soft_overlong_reference_values(tmp_path):
    r = make("soft-overlong", max_completion_len=10, soft_punish_cache=4)
    ids = [[1] * n for n in (3, 6, 7, 9, 10, 12)]
    # 0 up to 10 - 4 = 6 tokens, then (6 - n) / 4, -1 at and beyond 10
    assert r(["x"] * 6, completion_ids=ids) == [0.0, 0.0, -0.25, -0.75, -1.0, -1.0]
    assert r(["x"]) == [None]  # no token evidence: not applicable

    class Tok:  # one token per character
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": list(range(len(text)))}

    assert make("soft-overlong", max_completion_len=10, soft_punish_cache=4, tokenizer=Tok())(
        ["abc", "abcdefgh"]
    ) == [0.0, -0.5]
    with pytest.raises(ValueError, match="soft_punish_cache must be in"):
        make("soft-overlong", max_completion_len=4, soft_punish_cache=5)


def test_run_reward_sets_soft_overlong_to_the_run_limit():
    from aigc_rl.agents.trl.run import make_reward
    from aigc_rl.config import TrainConfig

    reward = make_reward(TrainConfig(reward="soft-overlong,distinct-2", max_new_tokens=20))
    soft = next(r for r, _ in reward.components if r.name == "soft-overlong")
    assert (soft.max_completion_len, soft.soft_punish_cache) == (20, 5)
    # 17 tokens: (20 - 5 - 17) / 5 = -0.4
    assert soft(["x"], completion_ids=[[1] * 17]) == [pytest.approx(-0.4)]
