"""Registers the built-in rewards (imported lazily by the registry).

:data:`BUILTINS` is the one list of built-in names; everything else (:data:`BUILTIN_CLASSES`,
:data:`TEXT_REWARDS`, :data:`IMAGE_REWARDS`, the docs tables, the report's categories) is derived from it and
from each class's metadata attributes.
"""

from __future__ import annotations

from typing import Any

from .base import RewardModel
from .creativity import EAD, DistinctN
from .diversity import EmbeddingDiversity, Novelty, SelfBleu, SemanticNovelty
from .image import ClassCoverage, ImageDiversity, ImageNovelty, Realism, TargetClass
from .learned import Judge, SequenceClassifierReward
from .lexical import Completion, Format, Length, Readability, Sentiment, SoftOverlong
from .overlap import Bleu, Chrf, RougeL
from .quality import Fluency, NoCopyRelevance, Relevance
from .registry import Variant, register, reward_class
from .safety import Harm

__all__ = ["BUILTINS", "BUILTIN_CLASSES", "TEXT_REWARDS", "IMAGE_REWARDS"]

#: ``(name, factory)`` of every built-in reward, in the order of the docs tables: text quality, creativity and
#: safety rewards, then image rewards (8x8 digits by default; see rewards/image.py).
BUILTINS: tuple[tuple[str, Any], ...] = (
    ("relevance", Relevance),
    ("no-copy-relevance", NoCopyRelevance),
    ("fluency", Fluency),
    ("bleu", Bleu),
    ("chrf", Chrf),
    ("rouge-l", RougeL),
    ("sentiment", Sentiment),
    ("readability", Readability),
    ("reward-model", SequenceClassifierReward),
    ("judge", Judge),
    ("length", Length),
    ("format", Format),
    ("completion", Completion),
    ("soft-overlong", SoftOverlong),
    ("distinct-1", Variant(DistinctN, n=1)),
    ("distinct-2", Variant(DistinctN, n=2)),
    ("distinct-3", Variant(DistinctN, n=3)),
    ("ead", EAD),
    ("self-bleu", SelfBleu),
    ("embedding-diversity", EmbeddingDiversity),
    ("novelty", Novelty),
    ("semantic-novelty", SemanticNovelty),
    ("harm", Harm),
    ("target-class", TargetClass),
    ("realism", Realism),
    ("image-diversity", ImageDiversity),
    ("class-coverage", ClassCoverage),
    ("image-novelty", ImageNovelty),
)

for _name, _factory in BUILTINS:
    register(_name, _factory, overwrite=True)


def _class(factory: Any) -> type[RewardModel]:
    cls = reward_class(factory)
    if cls is None:  # every built-in factory is a class or a Variant
        raise TypeError(f"built-in reward factory {factory!r} does not name its reward class")
    return cls


#: Reward class by built-in name (metadata without building the reward).
BUILTIN_CLASSES: dict[str, type[RewardModel]] = {n: _class(f) for n, f in BUILTINS}

#: Built-in rewards that score text (these have a docs row in docs/rewards.md and a TRL test).
TEXT_REWARDS: tuple[str, ...] = tuple(n for n, c in BUILTIN_CLASSES.items() if c.modality == "text")

#: Built-in rewards that score images (docs/images.md).
IMAGE_REWARDS: tuple[str, ...] = tuple(n for n, c in BUILTIN_CLASSES.items() if c.modality == "image")
