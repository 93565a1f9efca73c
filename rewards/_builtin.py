"""Registers the built-in rewards (imported lazily by the registry)."""

from __future__ import annotations

from .creativity import DistinctN
from .quality import Fluency, Relevance
from .registry import register

register("distinct-1", lambda **kw: DistinctN(n=1, **kw), overwrite=True)
register("distinct-2", lambda **kw: DistinctN(n=2, **kw), overwrite=True)
register("distinct-3", lambda **kw: DistinctN(n=3, **kw), overwrite=True)
register("relevance", Relevance, overwrite=True)
register("fluency", Fluency, overwrite=True)
