"""Gymnasium wrappers for aigc-rl environments.

* :class:`TokenizeObservation` — ``spaces.Text`` observation -> token ids + attention mask Boxes (what
  stable-baselines3 accepts, case E1, DLR-RM/stable-baselines3#1704).
"""

from __future__ import annotations

from .tokenize import TokenizeObservation

__all__ = ["TokenizeObservation"]
