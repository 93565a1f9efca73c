"""The report of a run started with ``--init``: base -> init -> tuned in one table, one plot, one lineage line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.axes import Axes
from report_runs import _ci, make_healthy_text_run

from aigc_rl.report import render_report
from aigc_rl.report.build import pareto_points
from aigc_rl.report.plots import pareto_figure
from aigc_rl.report.runs import load_run

LINEAGE = [
    {"stage": "base", "label": "smollm2-135m-instruct", "path": None},
    {"stage": "init", "label": "sft (runs/support-sft-seed0)", "path": "runs/support-sft-seed0"},
    {"stage": "tuned", "label": "grpo (runs/support-grpo-init)", "path": "runs/support-grpo-init"},
]


def make_init_run(d: Path) -> Path:
    """The healthy text run, with an init policy between base and tuned and the lineage in eval.json."""
    make_healthy_text_run(d, judges=True)
    ev = json.loads((d / "eval.json").read_text())
    pols = ev["policies"]
    ev["policies"] = {
        "base": pols["base"],
        "init": {
            "reward": _ci(0.36, 0.03),
            "relevance": _ci(0.52, 0.02),
            "self-bleu": _ci(0.33, 0.02),
            "length": _ci(23.0, 1.5),
            "repetition": _ci(0.03, 0.01),
            "distinct-2-corpus": _ci(0.56, 0.02),
        },
        "tuned": pols["tuned"],
    }
    ev["judges"] = {
        "base": ev["judges"]["base"],
        "init": ev["judges"]["base"],
        "tuned": ev["judges"]["tuned"],
    }
    ev["lineage"] = LINEAGE
    (d / "eval.json").write_text(json.dumps(ev))
    return d


def test_report_shows_the_three_stages_and_the_lineage(tmp_path):
    run = make_init_run(tmp_path / "support-grpo-init")
    out = tmp_path / "report"
    render_report([run], out)
    md = (out / "report.md").read_text()
    assert (
        "- Lineage: smollm2-135m-instruct → sft (runs/support-sft-seed0) → grpo (runs/support-grpo-init)"
        in md
    )
    header = next(line for line in md.splitlines() if line.startswith("| Metric | Measures |"))
    assert header.index("base mean") < header.index("init mean") < header.index("tuned mean")
    assert (
        "<dt>Lineage</dt><dd>smollm2-135m-instruct → sft (runs/support-sft-seed0)"
        in (out / "report.html").read_text()
    )
    rep = json.loads((out / "report.json").read_text())
    points = rep["comparisons"]["text"]["pareto"]["points"]
    assert [p["policy"] for p in points] == ["base", "init", "tuned"]
    assert rep["comparisons"]["text"]["figures"]["pareto"] == "pareto-text.png"
    assert rep["runs"][0]["lineage"] == LINEAGE


def _arrows(monkeypatch, points) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    drawn: list[tuple[tuple[float, float], tuple[float, float]]] = []
    real = Axes.annotate

    def spy(self, text, xy, *args, **kwargs):
        if kwargs.get("arrowprops"):
            drawn.append((tuple(args[0]), tuple(xy)))  # (from, to)
        return real(self, text, xy, *args, **kwargs)

    monkeypatch.setattr(Axes, "annotate", spy)
    assert pareto_figure(points, "t") is not None
    return drawn


def test_pareto_plot_joins_the_lineage_in_order(tmp_path, monkeypatch):
    run = load_run(make_init_run(tmp_path / "r"))
    pts = pareto_points([run])["points"]
    at = {p["policy"]: (p["quality"], p["creativity"]) for p in pts}
    assert _arrows(monkeypatch, pts) == [(at["base"], at["init"]), (at["init"], at["tuned"])]


def test_two_policy_run_has_no_lineage(tmp_path, monkeypatch):
    run = load_run(make_healthy_text_run(tmp_path / "r", judges=True))
    pts = pareto_points([run])["points"]
    assert [p["policy"] for p in pts] == ["base", "tuned"]
    assert _arrows(monkeypatch, pts) == []
    render_report([run.path], tmp_path / "out")
    assert "Lineage" not in (tmp_path / "out" / "report.md").read_text()


@pytest.mark.parametrize("bad", [None, [], "x"])
def test_lineage_text_ignores_a_missing_or_odd_record(bad):
    from aigc_rl.report.build import _lineage_text

    assert _lineage_text(bad) is None


def test_diversity_is_checked_per_stage(tmp_path):
    """A run from a fine-tuned policy: the collapse check judges what this run's training did (init → tuned),
    and the fine-tuning's own change (base → init) is a finding of its own; neither is put on the other
    (issue 12: SFT on the support demos lowered within-group diversity 27%, GRPO from it 3% more)."""
    from aigc_rl.report.diagnostics import run_diagnostics

    run = make_init_run(tmp_path / "support-grpo-init")
    ev = json.loads((run / "eval.json").read_text())
    ev["policies"]["init"]["self-bleu"] = _ci(0.60, 0.02)  # diversity 1 - 0.60 = 0.40 against base's 0.65
    ev["policies"]["tuned"]["self-bleu"] = _ci(0.58, 0.02)  # 0.42: no lower than init's
    (run / "eval.json").write_text(json.dumps(ev))
    found = {f.check: f for f in run_diagnostics(load_run(run))}
    assert found["diversity-collapse"].status == "ok"
    assert found["diversity-collapse"].values["from"] == "init"
    init = found["init-diversity-collapse"]
    assert init.status == "warning" and "self-bleu rose 0.35 → 0.6" in init.message
    assert init.values["metrics"]["self-bleu"]["relative_change"] == pytest.approx((0.40 - 0.65) / 0.65)
    plain = {f.check for f in run_diagnostics(load_run(make_healthy_text_run(tmp_path / "plain")))}
    assert "init-diversity-collapse" not in plain and "diversity-collapse" in plain
