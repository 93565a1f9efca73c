"""Fixtures of the report tests; the run-directory builders live in ``report_runs`` (a uniquely named module:
``from conftest import ...`` picked whichever conftest was imported last when tests/rewards ran too)."""

from __future__ import annotations

from report_runs import full_report, runs_root

__all__ = ["full_report", "runs_root"]
