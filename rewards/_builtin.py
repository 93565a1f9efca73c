"""Registers the built-in rewards (imported lazily by the registry)."""

from __future__ import annotations

from .creativity import DistinctN
from .diversity import EmbeddingDiversity, Novelty, SelfBleu, SemanticNovelty
from .image import ClassCoverage, ImageDiversity, ImageNovelty, Realism, TargetClass
from .learned import Judge, SequenceClassifierReward
from .lexical import Format, Length, Readability, Sentiment
from .overlap import Bleu, Chrf, RougeL
from .quality import Fluency, Relevance
from .registry import register
from .safety import Harm

# quality
register("relevance", Relevance, overwrite=True)
register("fluency", Fluency, overwrite=True)
register("bleu", Bleu, overwrite=True)
register("chrf", Chrf, overwrite=True)
register("rouge-l", RougeL, overwrite=True)
register("sentiment", Sentiment, overwrite=True)
register("readability", Readability, overwrite=True)
register("reward-model", SequenceClassifierReward, overwrite=True)
register("judge", Judge, overwrite=True)
register("length", Length, overwrite=True)
register("format", Format, overwrite=True)
# creativity
register("distinct-1", lambda **kw: DistinctN(n=1, **kw), overwrite=True)
register("distinct-2", lambda **kw: DistinctN(n=2, **kw), overwrite=True)
register("distinct-3", lambda **kw: DistinctN(n=3, **kw), overwrite=True)
register("self-bleu", SelfBleu, overwrite=True)
register("embedding-diversity", EmbeddingDiversity, overwrite=True)
register("novelty", Novelty, overwrite=True)
register("semantic-novelty", SemanticNovelty, overwrite=True)
# safety
register("harm", Harm, overwrite=True)
# images (8x8 digits by default; see rewards/image.py)
register("target-class", TargetClass, overwrite=True)
register("realism", Realism, overwrite=True)
register("image-diversity", ImageDiversity, overwrite=True)
register("class-coverage", ClassCoverage, overwrite=True)
register("image-novelty", ImageNovelty, overwrite=True)

#: Reward classes by built-in name (for documentation and evaluate modules without building the reward).
BUILTIN_CLASSES: dict[str, type] = {
    "relevance": Relevance,
    "fluency": Fluency,
    "bleu": Bleu,
    "chrf": Chrf,
    "rouge-l": RougeL,
    "sentiment": Sentiment,
    "readability": Readability,
    "reward-model": SequenceClassifierReward,
    "judge": Judge,
    "length": Length,
    "format": Format,
    "distinct-1": DistinctN,
    "distinct-2": DistinctN,
    "distinct-3": DistinctN,
    "self-bleu": SelfBleu,
    "embedding-diversity": EmbeddingDiversity,
    "novelty": Novelty,
    "semantic-novelty": SemanticNovelty,
    "harm": Harm,
    "target-class": TargetClass,
    "realism": Realism,
    "image-diversity": ImageDiversity,
    "class-coverage": ClassCoverage,
    "image-novelty": ImageNovelty,
}

#: The text rewards (completions are strings): these have evaluate modules, a docs table row and a TRL test.
TEXT_REWARDS: tuple[str, ...] = (
    "relevance", "fluency", "bleu", "chrf", "rouge-l", "sentiment", "readability", "reward-model", "judge",
    "length", "format", "distinct-1", "distinct-2", "distinct-3", "self-bleu", "embedding-diversity", "novelty",
    "semantic-novelty", "harm",
)  # fmt: skip
