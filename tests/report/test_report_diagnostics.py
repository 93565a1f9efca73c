"""Metric categories, normalisation, logged-component parsing and the reward-hacking checks on small cases."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from aigc_rl.report import DEFAULT_KL_BUDGET, RunData, Thresholds, run_diagnostics
from aigc_rl.report.categories import metric_info, normalised
from aigc_rl.report.plots import component_keys, training_series


def test_categories_from_registry_presets_and_fallback():
    rel = metric_info("relevance")
    assert (rel.category, rel.direction, rel.value_range, rel.source) == (
        "quality",
        "maximize",
        (-1.0, 1.0),
        "registry",
    )
    d2 = metric_info("distinct-2")
    assert (d2.category, d2.source) == ("creativity", "registry")  # category from the creativity preset
    assert metric_info("fluency").value_range == (-math.inf, 0.0)
    sb = metric_info("self-bleu")
    assert (sb.category, sb.direction) == ("creativity", "minimize")
    assert metric_info("target-accuracy").category == "quality"
    assert metric_info("diversity").category == "creativity"
    assert metric_info("distinct-2-corpus").category == "creativity"
    for name in ("length", "repetition", "kl", "reward", "no-such-metric"):
        assert metric_info(name).category == "other"


def test_normalised_values_by_hand():
    assert normalised("relevance", 0.48) == pytest.approx(0.74)  # (0.48 + 1) / 2
    assert normalised("fluency", -2.0) == pytest.approx(math.exp(-2.0))  # inverse perplexity
    assert normalised("self-bleu", 0.3) == pytest.approx(0.7)  # minimised: 1 - value
    assert normalised("no-such-metric", 5.0, [1.0, 5.0, 9.0]) == pytest.approx(0.5)  # min-max over the report
    assert normalised("no-such-metric", 5.0, [5.0]) == 0.5
    assert normalised("relevance", 3.0) == 1.0  # clipped


def test_component_keys_from_trl_and_sb3_logs():
    rows = [
        {
            "step": 1,
            "reward": 0.3,
            "rewards/reward/mean": 0.3,
            "rewards/relevance/mean": 0.5,
            "rewards/relevance/std": 0.1,
            "rewards/relevance/weighted": 0.5,
            "rewards/fluency": -2.5,
        },
        {"step": 2, "rewards/distinct-2/mean": 0.6},
    ]
    assert component_keys(rows) == {
        "relevance": ("rewards/relevance/mean", "rewards/relevance/std"),
        "fluency": ("rewards/fluency", None),
        "distinct-2": ("rewards/distinct-2/mean", None),
    }
    run = RunData(
        path=Path("."), name="r", metrics=rows + [{"step": 3, "kl": float("nan"), "train_runtime": 9.0}]
    )
    panels = {p["key"]: p for p in training_series(run)}
    assert list(panels) == ["reward", "rewards/relevance/mean", "rewards/fluency", "rewards/distinct-2/mean"]
    assert panels["rewards/distinct-2/mean"]["x"] == [2.0]  # NaN KL is dropped: no KL panel


def _run(base: dict, tuned: dict, metrics: list[dict] | None = None, config: dict | None = None) -> RunData:
    pol = {
        p: {k: {"mean": v, "ci95": None} for k, v in d.items()} for p, d in (("base", base), ("tuned", tuned))
    }
    return RunData(
        path=Path("."), name="r", eval={"policies": pol}, metrics=metrics or [], config=config or {}
    )


def _status(run: RunData, th: Thresholds | None = None) -> dict[str, str]:
    return {f.check: f.status for f in run_diagnostics(run, th)}


def test_length_drift_threshold_both_ways():
    assert _status(_run({"length": 20.0}, {"length": 26.0}))["length-drift"] == "ok"  # +30% is not above 30%
    assert _status(_run({"length": 20.0}, {"length": 26.2}))["length-drift"] == "warning"
    shorter = run_diagnostics(_run({"length": 20.0}, {"length": 10.0}))[0]
    assert shorter.status == "warning" and "50% shorter" in shorter.message
    assert (
        _status(_run({"length": 20.0}, {"length": 23.0}), Thresholds(length_drift=0.1))["length-drift"]
        == "warning"
    )


def test_length_drift_falls_back_to_training_curve():
    rows = [{"step": i, "completions/mean_length": 10.0 + i} for i in range(10)]  # first 10 -> last 19
    f = run_diagnostics(RunData(path=Path("."), name="r", metrics=rows))[0]
    assert f.status == "warning" and f.values["base"] == 10.0 and f.values["tuned"] == 19.0


def test_repetition_and_diversity():
    s = _status(_run({"repetition": 0.02, "distinct-2": 0.5}, {"repetition": 0.08, "distinct-2": 0.41}))
    assert s["repetition"] == "warning" and s["diversity-collapse"] == "ok"  # -18% is within 20%
    s = _status(_run({"repetition": 0.02, "distinct-2": 0.5}, {"repetition": 0.06, "distinct-2": 0.39}))
    assert s["repetition"] == "ok" and s["diversity-collapse"] == "warning"
    # self-BLEU 0.30 -> 0.50: diversity (1 - self-BLEU) falls 0.70 -> 0.50, i.e. -29%
    f = run_diagnostics(_run({"self-bleu": 0.30}, {"self-bleu": 0.50}))[2]
    assert f.status == "warning" and f.values["metrics"]["self-bleu"]["relative_change"] == pytest.approx(
        -2 / 7
    )


def test_kl_budget_sources_and_eval_kl():
    rows = [{"step": i, "kl": 0.1 * i} for i in range(1, 11)]  # last 10% = last row: 1.0
    f = run_diagnostics(_run({}, {}, rows))[3]
    assert (
        f.status == "warning"
        and f.values["final"] == pytest.approx(1.0)
        and f.values["budget"] == DEFAULT_KL_BUDGET
    )
    f = run_diagnostics(_run({}, {}, rows, config={"agent": {"name": "grpo", "kl_budget": 2.0}}))[3]
    assert f.status == "ok" and f.values["budget_source"] == "config.yaml agent.kl_budget"
    f = run_diagnostics(_run({}, {"kl": 0.7}))[3]  # KL measured at evaluation only
    assert f.status == "warning" and "evaluation KL 0.7" in f.message
    assert run_diagnostics(_run({}, {}))[3].status == "skipped"


def test_reward_up_quality_down():
    base = {"reward": 0.5, "relevance": 0.50, "fluency": -2.0}
    s = _status(_run(base, {"reward": 0.6, "relevance": 0.49, "fluency": -2.05}))  # -2% and -2.5%: ok
    assert s["reward-vs-quality"] == "ok"
    f = run_diagnostics(_run(base, {"reward": 0.6, "relevance": 0.50, "fluency": -2.3}))[4]  # fluency -15%
    assert f.status == "warning" and "fluency fell -2 → -2.3" in f.message
    # the reward fell too: not the hacking pattern
    assert (
        _status(_run(base, {"reward": 0.4, "relevance": 0.3, "fluency": -2.3}))["reward-vs-quality"] == "ok"
    )
    assert _status(_run({"reward": 0.5}, {"reward": 0.6}))["reward-vs-quality"] == "skipped"
