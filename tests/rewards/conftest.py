"""Fixtures of the reward tests; the tiny models live in ``reward_models`` (a uniquely named module:
``from conftest import ...`` picked whichever conftest was imported last when tests/report ran too)."""

from __future__ import annotations

from reward_models import tiny_lm, tiny_tok

__all__ = ["tiny_lm", "tiny_tok"]
