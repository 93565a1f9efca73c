"""The held-out judges on the real Gemma 3 270M and all-mpnet-base-v2 (``slow``; need the ``judges`` extra).

The first run converts Gemma once into the aigc-rl cache (about 4 minutes on 2 shared cores).
"""

from __future__ import annotations

import math

import pytest

from aigc_rl.judges import get_judge
from aigc_rl.judges.assets import JUDGES_INSTALL, have_gemma, have_mpnet

pytestmark = pytest.mark.slow
needs_gemma = pytest.mark.skipif(
    not have_gemma(), reason=f"the judges extra is not installed: {JUDGES_INSTALL}"
)
needs_mpnet = pytest.mark.skipif(
    not have_mpnet(), reason=f"the all-mpnet-base-v2 parts are not installed: {JUDGES_INSTALL}"
)

PROMPTS = [
    "Write a catchy slogan for a waterproof hiking jacket in under ten words.",
    'A customer asks a rideshare app: "How do I add a second stop to my ride?" Give a clear, friendly answer.',
]
GOOD = [
    "Rain on the peaks, dry on the inside.",
    "Tap 'Add stop' next to your destination and enter the address.",
]


@needs_gemma
def test_gemma_fluency_is_batch_invariant_and_punishes_a_cut():
    judge = get_judge("gemma-fluency", device="cpu", batch_size=4)
    comps = [*GOOD, "Rain on the peaks, dry on the", ""]
    prompts = [*PROMPTS, PROMPTS[0], PROMPTS[0]]
    batched = judge(comps, prompts)
    single = [judge([c], [p])[0] for c, p in zip(comps, prompts, strict=True)]
    assert batched == pytest.approx(single, abs=1e-4)  # right padding does not change any value
    assert all(math.isfinite(v) and v > 0 for v in batched)
    assert batched[2] > batched[0]  # EOS after "dry on the" is unlikely


@needs_gemma
def test_gemma_judge_probabilities_cache_and_batch_invariant():
    # Ranking quality is measured by benchmarks/judge_separation.py (overall AUC 0.74: it does not count);
    # here: probabilities, and the cached few-shot prefix gives the values of the plain forward pass.
    comps = [GOOD[0], "jacket jacket jacket jacket jacket jacket jacket jacket", "", GOOD[1]]
    prompts = [PROMPTS[0]] * 3 + [PROMPTS[1]]
    cached = get_judge("gemma-judge", device="cpu", batch_size=4)(comps, prompts)
    plain = get_judge("gemma-judge", device="cpu", batch_size=4, prefix_cache=False)(comps, prompts)
    single = get_judge("gemma-judge", device="cpu", batch_size=1)(comps, prompts)
    assert all(0.0 < s < 1.0 for s in cached)
    assert cached == pytest.approx(plain, abs=1e-4) and cached == pytest.approx(single, abs=1e-4)
    assert len(set(round(s, 4) for s in cached)) == 4  # the completion changes the score
    with pytest.raises(ValueError, match="template must hold"):
        get_judge("gemma-judge", template="Rate: {completion}")


@needs_gemma
def test_gemma_relevance_ranks_a_good_reply_above_each_bad_kind():
    # Separation on the whole calibration set is measured by benchmarks/judge_separation.py (AUC 0.89); here
    # one prompt, one good reply and one of each bad kind, on the real Gemma 3 270M.
    judge = get_judge("gemma-relevance", device="cpu", batch_size=4)
    comps = [
        GOOD[0],
        "",
        "Our new budgeting app tracks every dollar you spend.",  # off-topic
        "Here's a catchy slogan for a waterproof hiking jacket in under ten words:",  # the prompt restated
        "jacket jacket jacket jacket jacket jacket jacket jacket",
        "Rain on the peaks, dry on the",  # cut off
    ]
    scores = judge(comps, [PROMPTS[0]] * len(comps))
    assert all(math.isfinite(s) for s in scores)
    assert scores == pytest.approx([0.885, -9.558, -1.976, -4.290, 0.784, -7.783], abs=0.05)  # nats
    # the short slogan beats each bad reply, the repeated word only just (0.10 nats): repetition is the
    # judge's weak spot (AUC 0.84 for repeated words on the calibration set)
    assert scores[0] > max(scores[1:])
    assert judge(comps[:2], [PROMPTS[0]] * 2) == pytest.approx(scores[:2], abs=1e-3)


@needs_mpnet
def test_mpnet_relevance_and_semantic_diversity():
    rel = get_judge("mpnet-relevance", device="cpu")
    off_topic = "Our new budgeting app tracks every dollar you spend."
    scores = rel([GOOD[0], PROMPTS[0], off_topic, ""], [PROMPTS[0]] * 4)
    assert scores[1] == 0.0 and scores[3] == 0.0  # a verbatim copy and an empty completion
    assert scores[0] > scores[2] + 0.1
    div = get_judge("semantic-diversity", device="cpu")
    same = [GOOD[0], "Rain on the peaks, dry on the inside!", "Rain on the peaks; dry inside."]
    varied = [GOOD[0], "Storms outside, comfort inside.", "Hike wet trails with a dry back."]
    assert div(same, ["p"] * 3)[0] < div(varied, ["q"] * 3)[0] == 1.0
