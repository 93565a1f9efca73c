"""BLEU, chrF and ROUGE-L against the libraries they wrap (sacrebleu, rouge-score), degenerate inputs (B1), CJK."""

from __future__ import annotations

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from aigc_rl.rewards import make
from aigc_rl.rewards.overlap import pick_bleu_tokenizer, reference_lists

# The example system output and two reference streams from sacrebleu's README ("Using SacreBLEU from Python").
SYS = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
REFS = [
    ["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
    ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
]
PER_SENTENCE_REFS = [[r[i] for r in REFS] for i in range(len(SYS))]


def test_bleu_equals_sacrebleu_sentence_bleu_over_100():
    got = make("bleu")(SYS, references=PER_SENTENCE_REFS)
    want = [sacrebleu.sentence_bleu(h, rs).score / 100 for h, rs in zip(SYS, PER_SENTENCE_REFS, strict=False)]
    assert got == pytest.approx(want, abs=1e-6)
    assert got[0] == pytest.approx(1.0)  # exact match of the first reference
    assert 0.0 < got[1] < got[2] < 1.0  # sanity on the README example's ordering


def test_chrf_equals_sacrebleu_sentence_chrf_over_100():
    got = make("chrf")(SYS, references=PER_SENTENCE_REFS)
    want = [sacrebleu.sentence_chrf(h, rs).score / 100 for h, rs in zip(SYS, PER_SENTENCE_REFS, strict=False)]
    assert got == pytest.approx(want, abs=1e-6)


def test_single_reference_string_per_completion():
    hyps = ["the cat sat on the mat", "a quick brown fox"]
    refs = ["the cat sat on a mat", "the quick brown fox jumps"]
    assert make("bleu")(hyps, references=refs) == pytest.approx(
        [sacrebleu.sentence_bleu(h, [r]).score / 100 for h, r in zip(hyps, refs, strict=False)], abs=1e-6
    )
    # hand-computed: p1..p4 = 5/6, 3/5, 2/4, 1/3, equal lengths (BP = 1) -> (1/12) ** (1/4)
    assert make("bleu")(hyps[:1], references=refs[:1])[0] == pytest.approx((1 / 12) ** 0.25, abs=1e-9)


def test_rouge_l_equals_rouge_score():
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    got = make("rouge-l")(SYS, references=PER_SENTENCE_REFS)
    want = [
        scorer.score_multi(rs, h)["rougeL"].fmeasure for h, rs in zip(SYS, PER_SENTENCE_REFS, strict=False)
    ]
    assert got == pytest.approx(want, abs=1e-6)
    # hand check: LCS("the cat sat", "the cat") = 2 -> P = 1, R = 2/3, F = 0.8
    assert make("rouge-l")(["the cat"], references=["the cat sat"]) == pytest.approx([0.8])


@pytest.mark.parametrize("name", ["bleu", "chrf", "rouge-l"])
@pytest.mark.parametrize(
    "hyp,ref",
    [
        ("", "the cat sat"),
        ("   ", "the cat sat"),
        ("\f", "the cat sat"),
        ("the cat sat", ""),
        ("the cat sat", "\f"),
        ("the cat sat", " \t\n"),
        ("\u200b", "the cat"),
        ("\f", "\f"),
    ],
)
def test_case_b1_empty_or_whitespace_gives_zero(name, hyp, ref):
    """Case B1, huggingface/evaluate#601: an empty or whitespace-only (form feed included) prediction or reference scores 0.0, no exception."""
    assert make(name)([hyp], references=[ref]) == [0.0]
    assert make(name)([hyp], references=[[ref, "   "]]) == [0.0]


@pytest.mark.parametrize("name", ["bleu", "chrf", "rouge-l"])
def test_case_b1_blank_reference_dropped_among_others(name):
    """Case B1, huggingface/evaluate#601: a blank reference next to a real one is ignored (same value as without it)."""
    r = make(name)
    assert r(["the cat sat on the mat"], references=[["\f", "the cat sat on a mat"]]) == pytest.approx(
        r(["the cat sat on the mat"], references=[["the cat sat on a mat"]])
    )


@pytest.mark.parametrize("name", ["bleu", "chrf", "rouge-l"])
def test_missing_references_per_sample_is_not_applicable(name):
    assert make(name)(["a b", "c d"], references=[None, []]) == [None, None]


@pytest.mark.parametrize("name", ["bleu", "chrf", "rouge-l"])
def test_references_keyword_is_required_and_checked(name):
    with pytest.raises(ValueError, match="needs the keyword `references`"):
        make(name)(["a"])
    with pytest.raises(ValueError, match="one references entry per completion"):
        make(name)(["a", "b"], references=["a"])
    with pytest.raises(ValueError, match="one entry per completion"):
        make(name)(["a"], references="a")


def test_reference_lists_types():
    assert reference_lists(["a", ["b", "c"], None], 3, "bleu") == [["a"], ["b", "c"], None]
    with pytest.raises(TypeError, match=r"references\[0\]"):
        reference_lists([3], 1, "bleu")


ZH_HYP = ["我爱北京天安门", "今天天气很好，我们去公园散步。"]
ZH_REF = ["我爱北京", "今天天气不错，我们去公园走走。"]


def test_chinese_bleu_uses_sacrebleu_zh_tokenizer():
    assert pick_bleu_tokenizer(ZH_HYP[0], [ZH_REF[0]]) == "zh"
    assert pick_bleu_tokenizer("これは日本語です", ["日本語"]) == "char"
    assert pick_bleu_tokenizer("the cat", ["the cat"]) == "13a"
    got = make("bleu")(ZH_HYP, references=ZH_REF)
    want = [
        sacrebleu.sentence_bleu(h, [r], tokenize="zh").score / 100
        for h, r in zip(ZH_HYP, ZH_REF, strict=False)
    ]
    assert got == pytest.approx(want, abs=1e-6)
    assert all(0.0 < v < 1.0 for v in got)
    # without the zh tokenizer a Chinese sentence is one "word" and partial overlap would score 0
    assert sacrebleu.sentence_bleu(ZH_HYP[0], [ZH_REF[0]]).score == 0.0


def test_chinese_chrf_and_rouge_l_by_character():
    chrf = make("chrf")(ZH_HYP, references=ZH_REF)
    assert chrf == pytest.approx(
        [sacrebleu.sentence_chrf(h, [r]).score / 100 for h, r in zip(ZH_HYP, ZH_REF, strict=False)], abs=1e-6
    )
    # ROUGE-L by character: LCS(我爱北京天安门, 我爱北京) = 4 -> P = 4/7, R = 1, F = 2PR/(P+R) = 8/11
    rl = make("rouge-l")(ZH_HYP[:1], references=ZH_REF[:1])
    assert rl == pytest.approx([8 / 11], abs=1e-9)
    # rouge-score's own tokenizer drops CJK characters entirely (score 0), which is why aigc-rl tokenises by char
    assert rouge_scorer.RougeScorer(["rougeL"]).score(ZH_REF[0], ZH_HYP[0])["rougeL"].fmeasure == 0.0


def test_bleu_accepts_sacrebleu_options():
    hyp, ref = ["The Cat sat"], ["the cat sat"]
    assert make("bleu", lowercase=True)(hyp, references=ref) == pytest.approx([1.0])
    assert make("bleu")(hyp, references=ref)[0] < 1.0
