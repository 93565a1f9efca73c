"""Embedding judges and the no-copy relevance with a tiny deterministic encoder (bag of words, no model)."""

from __future__ import annotations

import numpy as np
import pytest

from aigc_rl.judges import embedding
from aigc_rl.judges.embedding import SemanticDiversity, greedy_clusters, no_copy_relevance
from aigc_rl.judges.text import words


class BagOfWords:
    """``encode`` like a SentenceTransformer: L2-normalised word counts over a fixed vocabulary (+ one bucket)."""

    VOCAB = ["bread", "bakery", "fresh", "slogan", "town", "cat", "car", "warm"]

    def __init__(self):
        self.calls = []

    def encode(self, texts, normalize_embeddings=True, convert_to_numpy=True):
        self.calls.append(list(texts))
        out = np.zeros((len(texts), len(self.VOCAB) + 1))
        for i, t in enumerate(texts):
            for w in words(t):
                out[i, self.VOCAB.index(w) if w in self.VOCAB else len(self.VOCAB)] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


PROMPT = "Write a slogan for a bakery in town"


def test_no_copy_relevance_reference_values():
    enc = BagOfWords()
    comps = [
        PROMPT,
        "Fresh bread from the bakery",
        "Here's a slogan for a bakery in town: fresh bread",
        "",
        "cat car",
    ]
    got = no_copy_relevance(enc, comps, [PROMPT] * 5)
    # prompt vector: slogan, bakery, town + 4 other words (write, a, for, a, in -> bucket 5) -> [0,1,0,1,1,...,5]
    p = np.array([0, 1, 0, 1, 1, 0, 0, 0, 5.0])
    p /= np.linalg.norm(p)
    c = np.array([1, 1, 1, 0, 0, 0, 0, 0, 2.0])  # "fresh bread from the bakery"
    c /= np.linalg.norm(c)
    rest = np.array([1, 0, 1, 0, 0, 0, 0, 0, 1.0])  # "here's fresh bread" after removing the copied span
    rest /= np.linalg.norm(rest)
    assert got[0] == 0.0 and got[3] == 0.0  # a copy and an empty completion score 0
    assert got[1] == pytest.approx(float(p @ c))
    assert got[2] == pytest.approx(float(p @ rest))
    assert got[4] == 0.0  # off-topic: orthogonal
    assert enc.calls[0] == [PROMPT]  # each distinct prompt embedded once


def test_greedy_clusters():
    e = np.array([[1, 0], [0.99, 0.141], [0, 1], [1, 0]])
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    assert greedy_clusters(e, 0.95) == [0, 0, 1, 0]
    assert greedy_clusters(e, 0.999) == [0, 1, 2, 0]


def test_semantic_diversity_per_group(monkeypatch):
    monkeypatch.setattr(embedding, "load_encoder", lambda model=None, device=None: BagOfWords())
    judge = SemanticDiversity(threshold=0.9)
    comps = ["fresh bread", "Fresh  bread!", "warm cat", "", "", "car", "bakery"]
    prompts = ["p", "p", "p", "q", "q", "r", "r"]
    # p: {fresh bread} x2 + {warm cat} -> 2 clusters / 3; q: two empties -> 1 / 2; r: 2 / 2
    assert judge(comps, prompts) == pytest.approx([2 / 3] * 3 + [0.5] * 2 + [1.0] * 2)
    assert judge(comps, prompts, groups=list(range(7))) == [1.0] * 7
    with pytest.raises(ValueError, match="threshold must be in"):
        SemanticDiversity(threshold=0.0)


def test_mpnet_relevance_uses_the_encoder(monkeypatch):
    enc = BagOfWords()
    monkeypatch.setattr(embedding, "load_encoder", lambda model=None, device=None: enc)
    judge = embedding.MpnetRelevance()
    assert judge([PROMPT, "cat"], [PROMPT, PROMPT]) == [0.0, 0.0]
    with pytest.raises(ValueError, match="1 completions but 2 prompts"):
        judge(["x"], [PROMPT, PROMPT])
