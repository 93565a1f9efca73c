"""Evaluation reports: ``report.html`` (self-contained), ``report.md`` and ``report.json`` over one or more
run directories, with per-policy tables, training curves, a quality-versus-creativity Pareto plot, reward-
hacking diagnostics and samples. See :func:`render_report` and docs/reports.md.
"""

from __future__ import annotations

from .diagnostics import DEFAULT_KL_BUDGET, Finding, Thresholds, run_diagnostics
from .render import render_report
from .runs import RunData, load_run

__all__ = [
    "render_report",
    "load_run",
    "RunData",
    "run_diagnostics",
    "Finding",
    "Thresholds",
    "DEFAULT_KL_BUDGET",
]
