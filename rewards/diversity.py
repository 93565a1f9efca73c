"""Creativity rewards beyond distinct-n: self-BLEU, embedding diversity, n-gram novelty and semantic novelty.

Group rewards (``self-bleu``, ``embedding-diversity``) compare each completion with its siblings: the other
completions for the same prompt in the batch (or with the same ``group_ids`` entry), as GRPO/RLOO sample them.
A completion without siblings scores ``None`` (not applicable). Novelty rewards compare a completion with a
reference corpus (a list of strings or a text/JSONL file); without a corpus, with the completion's own prompt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np

from ._text import is_blank, ngrams, tokenize
from .base import RewardModel, group_indices
from .overlap import Bleu
from .quality import Relevance

__all__ = ["SelfBleu", "EmbeddingDiversity", "Novelty", "SemanticNovelty", "load_corpus"]


def load_corpus(corpus: str | Path | Sequence[str], text_field: str | None = None) -> list[str]:
    """Documents of a reference corpus.

    Args:
        corpus: A list of strings; or a path to a ``.jsonl`` file (one JSON object per line, the text in
            ``text_field``, else the first of ``"text"``, ``"prompt"``, ``"completion"`` present) or to a text
            file (one document per non-blank line).
        text_field: JSONL field holding the text.

    Returns:
        The non-blank documents.

    Raises:
        FileNotFoundError: the path does not exist. ValueError: a JSONL line has no text field.
        TypeError: ``corpus`` is neither a list of strings nor a path.
    """
    if isinstance(corpus, (str, Path)):
        path = Path(corpus).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"corpus file {str(corpus)!r} does not exist; pass a list of strings or a path to a .txt/.jsonl file"
            )
        lines = path.read_text(encoding="utf-8").splitlines()
        if path.suffix == ".jsonl":
            docs = []
            for k, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                obj = json.loads(line)
                keys = [text_field] if text_field else ["text", "prompt", "completion"]
                field = next((f for f in keys if isinstance(obj.get(f), str)), None)
                if field is None:
                    raise ValueError(
                        f"{path}:{k}: no text field {keys} in this JSON line; pass text_field=..."
                    )
                docs.append(obj[field])
        else:
            docs = lines
    elif isinstance(corpus, Sequence) and all(isinstance(d, str) for d in corpus):
        docs = list(corpus)
    else:
        raise TypeError(f"corpus must be a list of strings or a file path, got {type(corpus).__name__}")
    return [d for d in docs if not is_blank(d)]


class SelfBleu(RewardModel):
    """Self-BLEU of each completion against its siblings (Zhu et al. 2018, Texygen); lower = more diverse.

    For completion ``i`` in a group, ``BLEU(i, references = every other non-blank completion of the group)`` as
    :class:`~aigc_rl.rewards.overlap.Bleu` computes it (``sacrebleu.sentence_bleu / 100``; ``zh`` tokenizer for
    Chinese). Texygen averages these values over the samples; here each completion gets its own. Range [0, 1],
    direction minimise (the reward, ``__call__``, is ``-self_bleu``). A completion without siblings is ``None``;
    an empty completion scores 0.0 (BLEU of nothing, case B1, huggingface/evaluate#601): pair it with a quality reward.

    Args:
        tokenize: sacrebleu tokenizer or ``"auto"``.
        **bleu_kwargs: Passed to ``sacrebleu.metrics.BLEU``.

    Source: Zhu et al. 2018, "Texygen: A Benchmarking Platform for Text Generation Models"; sacrebleu.
    """

    name: ClassVar[str] = "self-bleu"
    kind: ClassVar[str] = "creativity"
    direction: ClassVar[str] = "minimize"
    value_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    requires_group: ClassVar[bool] = True
    source: ClassVar[str] = "Zhu et al. 2018 (Texygen self-BLEU); sacrebleu sentence_bleu/100"

    def __init__(self, tokenize: str = "auto", **bleu_kwargs: Any) -> None:
        self._bleu = Bleu(tokenize=tokenize, **bleu_kwargs)

    def score(
        self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any
    ) -> list[float | None]:
        out: list[float | None] = [None] * len(completions)
        for idx in group_indices(prompts, len(completions), kwargs.get("group_ids")):
            if len(idx) < 2:
                continue
            for i in idx:
                refs = [completions[j] for j in idx if j != i and not is_blank(completions[j])]
                out[i] = (
                    0.0
                    if is_blank(completions[i]) or not refs
                    else self._bleu._sentence(completions[i], refs)
                )
        return out


class _EmbeddingReward(RewardModel):
    def __init__(self, model: str | None = None, device: str | None = None, batch_size: int = 64) -> None:
        self._encoder = Relevance(model=model, device=device, batch_size=batch_size)

    def embed(self, texts: list[str]) -> np.ndarray:
        """L2-normalised embeddings of the distinct texts, float32 ``(len(texts), dim)``."""
        uniq = list(dict.fromkeys(texts))
        if not uniq:
            return np.zeros((0, 0), dtype=np.float32)
        emb = self._encoder.embed(uniq)
        where = {t: k for k, t in enumerate(uniq)}
        return emb[[where[t] for t in texts]]


class EmbeddingDiversity(_EmbeddingReward):
    """Mean cosine distance of each completion to its siblings in sentence-embedding space.

    For completion ``i``: ``mean_{j != i} (1 - cos(e_i, e_j))`` over the non-blank siblings ``j`` of its group,
    with L2-normalised sentence embeddings (default all-MiniLM-L6-v2, shared with ``relevance``). The group mean
    of these values is the mean pairwise cosine distance of the group. Range [0, 2], maximise. A completion
    without non-blank siblings is ``None``; an empty completion scores 0.0.

    Args:
        model: sentence-transformers id or local directory; ``None`` = the shipped MiniLM.
        device: torch device. batch_size: encode batch size.

    Source: mean pairwise embedding distance (e.g. Tevet & Berant 2021, "Evaluating the Evaluation of Diversity
    in Natural Language Generation"); sentence-transformers.
    """

    name: ClassVar[str] = "embedding-diversity"
    kind: ClassVar[str] = "creativity"
    value_range: ClassVar[tuple[float, float]] = (0.0, 2.0)
    requires_group: ClassVar[bool] = True
    source: ClassVar[str] = (
        "mean pairwise cosine distance of sentence embeddings (Tevet & Berant 2021); sentence-transformers"
    )

    def score(
        self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any
    ) -> list[float | None]:
        out: list[float | None] = [None] * len(completions)
        live = [i for i, c in enumerate(completions) if not is_blank(c)]
        emb = self.embed([completions[i] for i in live])
        row = {i: k for k, i in enumerate(live)}
        for idx in group_indices(prompts, len(completions), kwargs.get("group_ids")):
            if len(idx) < 2:
                continue
            ok = [i for i in idx if i in row]
            for i in idx:
                if i not in row:
                    out[i] = 0.0
                    continue
                sib = [j for j in ok if j != i]
                if sib:
                    cos = emb[[row[j] for j in sib]] @ emb[row[i]]
                    out[i] = float(np.mean(1.0 - cos))
        return out


class Novelty(RewardModel):
    """n-gram novelty: the fraction of the completion's n-grams that never occur in a reference corpus.

    ``|{g in G : g not in C}| / |G|`` where ``G`` is the completion's n-gram list (with repeats) and ``C`` the
    set of the corpus's n-grams (each document tokenised separately; CJK by character, other scripts by word,
    see :mod:`aigc_rl.rewards._text`). Without a corpus, ``C`` is the n-grams of the completion's own prompt
    (novelty = how little is copied from the prompt). A completion with no n-gram scores 0.0. Range [0, 1],
    maximise.

    Args:
        corpus: List of strings or a path (see :func:`load_corpus`); ``None`` = each completion's prompt.
        n: n-gram order, >= 1.
        text_field: JSONL field of the corpus text.

    Raises:
        ValueError: bad ``n``; no corpus and no prompts at call time.

    Source: n-gram novelty against training data (e.g. McCoy et al. 2023, "How much do language models copy
    from their training data?").
    """

    name: ClassVar[str] = "novelty"
    kind: ClassVar[str] = "creativity"
    value_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    requires_prompt: ClassVar[bool] = True  # the default corpus (without corpus=)
    source: ClassVar[str] = "n-gram novelty vs a reference corpus (McCoy et al. 2023, RAVEN)"

    def __init__(
        self, corpus: str | Path | Sequence[str] | None = None, n: int = 2, text_field: str | None = None
    ) -> None:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"novelty needs an integer n >= 1, got {n!r}")
        self.n = n
        self.corpus = corpus
        self.text_field = text_field
        self._grams: set[tuple[str, ...]] | None = None

    def _corpus_grams(self) -> set[tuple[str, ...]]:
        if self._grams is None:
            corpus = cast("str | Path | Sequence[str]", self.corpus)  # only called when a corpus is given
            self._grams = {
                g for d in load_corpus(corpus, self.text_field) for g in ngrams(tokenize(d), self.n)
            }
        return self._grams

    def score(self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any) -> list[float]:
        if self.corpus is None and prompts is None:
            raise ValueError(
                "reward 'novelty' without a corpus compares with the prompts: pass prompts=..., or corpus=..."
            )
        out = []
        for k, c in enumerate(completions):
            grams = ngrams(tokenize(c), self.n)
            if not grams:
                out.append(0.0)
                continue
            ref = (
                self._corpus_grams()
                if self.corpus is not None
                else set(ngrams(tokenize(cast("list[str]", prompts)[k]), self.n))
            )
            out.append(sum(g not in ref for g in grams) / len(grams))
        return out


class SemanticNovelty(_EmbeddingReward):
    """Semantic novelty: ``1 - max_d cos(e(completion), e(d))`` over the documents ``d`` of a reference corpus.

    Sentence embeddings as in ``relevance`` (default all-MiniLM-L6-v2); the corpus is embedded once, on first
    use. Without a corpus, the completion's own prompt is the corpus (``1 - relevance``). An empty completion
    scores 0.0. Range [0, 2], maximise.

    Args:
        corpus: List of strings or a path (see :func:`load_corpus`); ``None`` = each completion's prompt.
        text_field: JSONL field of the corpus text.
        model, device, batch_size: as :class:`~aigc_rl.rewards.quality.Relevance`.

    Raises:
        ValueError: no corpus and no prompts at call time, or an empty corpus.

    Source: nearest-neighbour cosine distance in sentence-embedding space (Reimers & Gurevych 2019,
    sentence-transformers); the embedding counterpart of n-gram novelty.
    """

    name: ClassVar[str] = "semantic-novelty"
    kind: ClassVar[str] = "creativity"
    value_range: ClassVar[tuple[float, float]] = (0.0, 2.0)
    requires_prompt: ClassVar[bool] = True  # the default corpus (without corpus=)
    source: ClassVar[str] = (
        "1 - max cosine similarity to a reference corpus (sentence-transformers embeddings)"
    )

    def __init__(
        self,
        corpus: str | Path | Sequence[str] | None = None,
        text_field: str | None = None,
        model: str | None = None,
        device: str | None = None,
        batch_size: int = 64,
    ) -> None:
        super().__init__(model=model, device=device, batch_size=batch_size)
        self.corpus = corpus
        self.text_field = text_field
        self._corpus_emb: np.ndarray | None = None

    def _corpus_embeddings(self) -> np.ndarray:
        if self._corpus_emb is None:
            docs = load_corpus(self.corpus, self.text_field)  # type: ignore[arg-type]
            if not docs:
                raise ValueError("reward 'semantic-novelty': the corpus holds no non-blank document")
            self._corpus_emb = self.embed(docs)
        return self._corpus_emb

    def score(self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any) -> list[float]:
        if self.corpus is None and prompts is None:
            raise ValueError(
                "reward 'semantic-novelty' without a corpus compares with the prompts: pass prompts=..., or corpus=..."
            )
        out = [0.0] * len(completions)
        live = [i for i, c in enumerate(completions) if not is_blank(c)]
        if not live:
            return out
        emb = self.embed([completions[i] for i in live])
        if self.corpus is not None:
            ref = self._corpus_embeddings()
            best = np.full(len(live), -1.0, dtype=np.float32)
            for s in range(0, len(ref), 8192):  # bounded memory for large corpora
                best = np.maximum(best, (emb @ ref[s : s + 8192].T).max(axis=1))
        else:
            pe = self.embed([prompts[i] for i in live])  # type: ignore[index]
            best = np.einsum("ij,ij->i", emb, pe)
        for k, i in enumerate(live):
            out[i] = float(1.0 - best[k])
        return out
