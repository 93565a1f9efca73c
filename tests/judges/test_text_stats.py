"""Model-free judges and text statistics: EAD (hand-computed), copy rate (reference values), completion."""

from __future__ import annotations

import math

import pytest

from aigc_rl.judges import get_judge, judge_names
from aigc_rl.judges.text import (
    copy_rate,
    ead,
    ends_sentence,
    expected_distinct,
    ngrams,
    strip_prompt_ngrams,
    words,
)

PROMPT = "Write a slogan for a bakery in town."


def test_words_and_ngrams():
    assert words("Don't STOP, believin'!") == ["don't", "stop", "believin'"]
    assert ngrams(["a", "b", "c"], 2) == [("a", "b"), ("b", "c")]
    assert ngrams(["a"], 2) == []
    with pytest.raises(ValueError, match="n must be >= 1"):
        ngrams(["a"], 0)


def test_ead_hand_computed():
    # "a a b", unigrams, V = 4: N = 2 distinct of C = 3; E[distinct] = 4 * (1 - (3/4)^3) = 37/16; EAD = 32/37.
    assert expected_distinct(4, 3) == pytest.approx(37 / 16, abs=1e-12)
    assert ead("a a b", n=1, vocab_size=4) == pytest.approx(32 / 37, abs=1e-12)
    # bigrams of "a b a b": (a,b) (b,a) (a,b): N = 2, C = 3, the same value.
    assert ead("a b a b", n=2, vocab_size=4) == pytest.approx(32 / 37, abs=1e-12)
    # pooled texts: n-grams do not cross text boundaries ("a b" + "b a" = (a,b), (b,a): N = C = 2).
    assert ead(["a b", "b a"], n=2, vocab_size=4) == pytest.approx(2 / (4 * (1 - (3 / 4) ** 2)), abs=1e-12)
    assert ead("", n=2) == 0.0 and ead("single", n=2) == 0.0


def test_ead_is_length_adjusted_and_punishes_repetition():
    # With a large V, all-distinct text scores about 1 whatever its length (distinct-n would too, but a
    # repeated text's distinct-n falls with length while EAD compares with the expectation).
    assert ead("one two three four", n=1) == pytest.approx(1.0, abs=1e-4)
    assert ead(" ".join(f"w{i}" for i in range(30)), n=1) == pytest.approx(1.0, abs=1e-3)
    assert ead("go go go go go go", n=1) == pytest.approx(1 / 6, abs=1e-4)
    v = 49_152
    assert ead("one two three four", n=1) == pytest.approx(4 / (v * (1 - ((v - 1) / v) ** 4)), rel=1e-12)


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("Write a slogan for bread lovers", 0.5),  # 2 of 4 trigrams are in the prompt
        (PROMPT, 1.0),  # verbatim copy
        ("Fresh bread, warm hearts, every morning.", 0.0),
        ("a bakery", 1.0),  # shorter than n: compared with n = 2
        ("", 0.0),
        # 16 words, 14 trigrams; the 2 that span the seam ("in town write", "town write a") are new
        ("Write a slogan for a bakery in town. Write a slogan for a bakery in town.", 12 / 14),
    ],
)
def test_copy_rate_reference_values(completion, expected):
    assert copy_rate(completion, PROMPT) == pytest.approx(expected, abs=1e-12)


def test_strip_prompt_ngrams_drops_only_copied_spans():
    text = "Here's a slogan for a bakery in town: fresh bread daily"
    assert strip_prompt_ngrams(text, PROMPT) == "here's fresh bread daily"
    assert strip_prompt_ngrams(PROMPT, PROMPT) == ""
    assert strip_prompt_ngrams("A bakery we love.", PROMPT) == "a bakery we love"  # 2 shared words stay


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("Done.", True),
        ('He said "go!"', True),
        ("Really?) ", True),
        ("Wait…", True),
        ("Sunny days 🌞", True),
        ("Lay the first dome, wire the", False),
        ("", False),
        ("   ", False),
        ("C) 12 cm", False),
    ],
)
def test_ends_sentence(text, ok):
    assert ends_sentence(text) is ok


def test_model_free_judges_values_and_metadata():
    comps = ["Fresh bread daily.", PROMPT, "", "Fresh bread"]
    prompts = [PROMPT] * 4
    assert get_judge("copy-rate")(comps, prompts) == [0.0, 1.0, 0.0, 0.0]
    assert get_judge("completion")(comps, prompts) == [1.0, 1.0, 0.0, 0.0]
    # finished flags win over the text; an empty completion never counts
    assert get_judge("completion")(comps, prompts, finished=[False, True, True, True]) == [0.0, 1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="3 finished flags for 4 completions"):
        get_judge("completion")(comps, prompts, finished=[True] * 3)
    meta = get_judge("copy-rate").describe()
    assert (
        meta
        == {
            "name": "copy-rate",
            "direction": "lower",
            "range": [0.0, 1.0],
            "kind": "copy",
            "source": meta["source"],
        }
        and "ROUGE" in meta["source"]
    )


def test_ead_judge_pools_each_prompts_samples():
    comps = ["a b", "b a", "x y", "x y"]
    prompts = ["p", "p", "q", "q"]
    judge = get_judge("ead", vocab_size=4)
    pooled_p = 2 / (4 * (1 - (3 / 4) ** 2))
    pooled_q = 1 / (4 * (1 - (3 / 4) ** 2))
    assert judge(comps, prompts) == pytest.approx([pooled_p, pooled_p, pooled_q, pooled_q])
    per = get_judge("ead", vocab_size=4, per_sample=True)(comps, prompts)
    assert per == pytest.approx([1 / (4 * (1 - 3 / 4))] * 4)
    # explicit groups override prompts
    assert judge(comps, prompts, groups=[0, 1, 2, 3]) == pytest.approx(per)


def test_registry_names_and_errors():
    assert judge_names() == sorted(
        [
            "gemma-fluency",
            "gemma-judge",
            "gemma-relevance",
            "mpnet-relevance",
            "copy-rate",
            "completion",
            "ead",
            "semantic-diversity",
        ]
    )
    with pytest.raises(KeyError, match="unknown judge 'nope'; registered: completion, copy-rate"):
        get_judge("nope")
    with pytest.raises(ValueError, match="judge copy-rate: 2 completions but 1 prompts"):
        get_judge("copy-rate")(["a", "b"], ["p"])
    for name in judge_names():
        judge = get_judge(name)
        assert judge.direction in ("higher", "lower") and judge.source and judge.range[0] <= judge.range[1]
        assert not math.isnan(judge.range[0])
