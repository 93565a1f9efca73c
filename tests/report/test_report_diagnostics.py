"""Metric categories, normalisation, logged-component parsing and the reward-hacking checks on small cases."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from aigc_rl.report import DEFAULT_KL_BUDGET, RunData, Thresholds, run_diagnostics
from aigc_rl.report.categories import metric_info, normalised
from aigc_rl.report.plots import component_keys, training_figure, training_series


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


def _run(
    base: dict,
    tuned: dict,
    metrics: list[dict] | None = None,
    config: dict | None = None,
    judges: dict | None = None,
    judges_skipped: dict | None = None,
) -> RunData:
    """A run whose eval holds ``base``/``tuned`` metrics (a number = a mean without CI; a ``(mean, lo, hi)``
    tuple = a mean with its 95% CI) and, optionally, ``judges`` as ``{policy: {judge: number | tuple}}``."""

    def cell(v):
        return {"mean": v[0], "ci95": [v[1], v[2]]} if isinstance(v, tuple) else {"mean": v, "ci95": None}

    pol = {p: {k: cell(v) for k, v in d.items()} for p, d in (("base", base), ("tuned", tuned))}
    ev: dict = {"policies": pol}
    if judges is not None:
        ev["judges"] = {p: {k: cell(v) for k, v in d.items()} for p, d in judges.items()}
    if judges_skipped is not None:
        ev["judges_skipped"] = judges_skipped
    return RunData(path=Path("."), name="r", eval=ev, metrics=metrics or [], config=config or {})


def _find(run: RunData, check: str, th: Thresholds | None = None):
    return next(f for f in run_diagnostics(run, th) if f.check == check)


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


def test_prompt_copy_flags_a_rise_above_base_plus_five_points():
    # the fresh default run (issue 11): copy-rate 0.012 [0.006, 0.019] -> 0.237 [0.211, 0.264]
    j = {"base": {"copy-rate": (0.012, 0.006, 0.019)}, "tuned": {"copy-rate": (0.237, 0.211, 0.264)}}
    f = _find(_run({}, {}, judges=j), "prompt-copy")
    assert (
        f.status == "warning" and f.values["rise"] == pytest.approx(0.225) and f.values["cis_apart"] is True
    )
    assert "24% of a tuned completion's word 3-grams are found in the prompt, against 1.2%" in f.message
    assert "95% CI [21%, 26%] vs [0.6%, 1.9%]" in f.message
    ok = _find(
        _run({}, {}, judges={"base": {"copy-rate": 0.02}, "tuned": {"copy-rate": 0.069}}), "prompt-copy"
    )
    assert ok.status == "ok" and "flagged above base + 5 points" in ok.message  # +4.9 points, no CI
    no_ci = _find(
        _run({}, {}, judges={"base": {"copy-rate": 0.02}, "tuned": {"copy-rate": 0.08}}), "prompt-copy"
    )
    assert no_ci.status == "warning" and no_ci.values["cis_apart"] is None  # without CIs the mean decides
    noisy = {"base": {"copy-rate": (0.10, 0.00, 0.25)}, "tuned": {"copy-rate": (0.17, 0.05, 0.30)}}
    f = _find(_run({}, {}, judges=noisy), "prompt-copy")
    assert f.status == "ok" and "may be noise" in f.message and f.values["cis_apart"] is False
    assert _find(_run({}, {}, judges=j), "prompt-copy", Thresholds(copy_rise=0.3)).status == "ok"


def test_prompt_copy_skipped_without_the_judge():
    f = _find(_run({}, {}), "prompt-copy")
    assert (
        f.status == "skipped" and f.message == "No held-out copy-rate judge for both policies in eval.json."
    )
    only_base = _run({}, {}, judges={"base": {"copy-rate": 0.1}}, judges_skipped={"copy-rate": "disabled"})
    f = _find(only_base, "prompt-copy")
    assert f.status == "skipped" and "(not run: disabled)" in f.message


def test_cut_off_from_the_completion_judge():
    # the fresh default run: 0.317 [0.25, 0.388] -> 0.029 [0.008, 0.05]
    j = {"base": {"completion": (0.317, 0.25, 0.388)}, "tuned": {"completion": (0.029, 0.008, 0.05)}}
    f = _find(_run({}, {}, judges=j), "cut-off")
    assert f.status == "warning" and f.values["from"] == "evaluation"
    assert f.values["drop"] == pytest.approx(0.288)
    assert "2.9% of the tuned policy's completions end inside the token limit, against 32%" in f.message
    assert "nearly every tuned completion runs into the limit" in f.message
    # a fall of 20 points with CIs apart, the tuned rate still well above 10%
    j = {"base": {"completion": (0.60, 0.50, 0.70)}, "tuned": {"completion": (0.40, 0.30, 0.49)}}
    f = _find(_run({}, {}, judges=j), "cut-off")
    assert f.status == "warning" and "stops finishing its completions" in f.message
    ok = _find(_run({}, {}, judges={"base": {"completion": 0.60}, "tuned": {"completion": 0.56}}), "cut-off")
    assert ok.status == "ok" and ok.values["drop"] == pytest.approx(0.04)
    # base and tuned both cut off: flagged whatever the base does (the limit is too short for the task)
    both = _find(
        _run({}, {}, judges={"base": {"completion": 0.08}, "tuned": {"completion": 0.09}}), "cut-off"
    )
    assert both.status == "warning" and "nearly every tuned completion" in both.message
    noisy = {"base": {"completion": (0.60, 0.40, 0.80)}, "tuned": {"completion": (0.50, 0.30, 0.70)}}
    f = _find(_run({}, {}, judges=noisy), "cut-off")
    assert f.status == "ok" and "within the 95% intervals' overlap" in f.message


def _clipped(values: list[float]) -> list[dict]:
    return [{"step": i + 1, "completions/clipped_ratio": v} for i, v in enumerate(values)]


def test_cut_off_falls_back_to_the_training_clipped_ratio():
    # the fresh default run's 40 logged steps: first 4 steps 0.25 0.75 0.5 0.625, last 4 all 1.0
    fresh = [0.25, 0.75, 0.5, 0.625] + [0.75] * 32 + [1.0] * 4
    cfg = {"prompts_per_step": 2, "num_generations": 4}
    f = _find(_run({}, {}, _clipped(fresh), config=cfg), "cut-off")
    assert f.status == "warning" and f.values["from"].startswith("training")
    assert f.values["start_clipped"] == pytest.approx(0.53125) and f.values["final_clipped"] == 1.0
    assert f.values["completions_per_window"] == 32 and f.values["cis_apart"] is True
    assert (
        "100% of the completions hit the token limit in the last 4 logged step(s) of training, against 53%"
        in (f.message)
    )
    # rise 0.2 -> 0.5 over 1-step windows of 8 completions: Wilson intervals overlap, noise
    rows = _clipped([0.25] + [0.3] * 8 + [0.5])
    f = _find(_run({}, {}, rows, config=cfg), "cut-off")
    assert f.status == "ok" and f.values["cis_apart"] is False and "intervals' overlap" in f.message
    f = _find(_run({}, {}, rows), "cut-off")  # no config: counts unknown, a rise cannot be told from noise
    assert f.status == "ok" and f.values["cis_apart"] is None and "cannot be told from noise" in f.message
    flat = _find(_run({}, {}, _clipped([0.3] * 10), config=cfg), "cut-off")
    assert flat.status == "ok" and flat.values["rise"] == pytest.approx(0.0)
    always = _find(_run({}, {}, _clipped([0.95] * 10), config=cfg), "cut-off")
    assert always.status == "warning" and "nearly every completion runs into the limit" in always.message
    f = _find(_run({}, {}, _clipped([0.3])), "cut-off")
    assert f.status == "skipped" and "no completions/clipped_ratio" in f.message


def test_entropy_collapse():
    rows = [{"step": i + 1, "entropy": e} for i, e in enumerate([3.4] * 5 + [2.0] * 10 + [1.1] * 5)]
    f = _find(_run({}, {}, rows), "entropy-collapse")  # 20 rows: first and last 2 averaged
    assert f.status == "warning" and f.values["ratio"] == pytest.approx(1.1 / 3.4)
    assert "Policy entropy fell 3.4 → 1.1 nats per token" in f.message and "32% of its start" in f.message
    rows = [{"step": i + 1, "entropy": 3.4 - 0.08 * i} for i in range(20)]  # 3.36 -> 1.92: 57%
    f = _find(_run({}, {}, rows), "entropy-collapse")
    assert f.status == "ok" and f.values["final"] == pytest.approx((1.96 + 1.88) / 2)
    assert _find(_run({}, {}, rows), "entropy-collapse", Thresholds(entropy_floor=0.6)).status == "warning"
    f = _find(_run({}, {}, [{"step": 1, "entropy": 3.0}]), "entropy-collapse")
    assert f.status == "skipped" and "No policy entropy" in f.message
    f = _find(_run({}, {}, [{"entropy": 0.0}, {"entropy": 0.0}]), "entropy-collapse")
    assert f.status == "skipped" and "cannot compute a fall" in f.message


def _kl(values: list[float]) -> list[dict]:
    return [{"step": 5 * (i + 1), "kl": v} for i, v in enumerate(values)]


def test_negative_kl():
    f = _find(_run({}, {}, _kl([0.0, 0.01, -0.05, 0.02, 0.03, 0.04, 0.05, 0.05, 0.06, 0.06])), "negative-kl")
    assert f.status == "warning" and f.values["estimator"] == "k3"
    assert "1 of 10 logged steps under -0.01, lowest -0.05 at step 15" in f.message
    assert "temperature, top-p" in f.message
    f = _find(_run({}, {}, _kl([0.0] * 9 + [-0.002])), "negative-kl")  # final mean -0.002 < -0.001
    assert (
        f.status == "warning" and f.values["steps_below"] == 0 and f.values["final"] == pytest.approx(-0.002)
    )
    f = _find(_run({}, {}, _kl([0.0, -1e-7, 0.02, 0.05] + [0.1] * 6)), "negative-kl")  # rounding, not a fault
    assert f.status == "ok" and f.values["lowest"] == pytest.approx(-1e-7)
    assert _find(_run({}, {}), "negative-kl").status == "skipped"


def test_negative_kl_of_rloo_uses_the_final_mean_only():
    rloo = {"agent": "rloo"}
    dip = _kl([0.0, -0.05, 0.02, 0.05] + [0.1] * 6)  # one step below zero by chance: k1 allows it
    f = _find(_run({}, {}, dip, config=rloo), "negative-kl")
    assert f.status == "ok" and f.values["estimator"] == "k1" and "may dip below zero by chance" in f.message
    f = _find(
        _run({}, {}, _kl([0.0] * 8 + [-0.03, -0.03]), config={"agent": {"name": "RLOO"}}), "negative-kl"
    )
    assert f.status == "warning" and f.values["final"] == pytest.approx(-0.03)
    assert "were not sampled from the distribution the loss scores" in f.message


def test_reward_up_while_held_out_judges_fall():
    base = {"reward": (0.30, 0.27, 0.34)}
    tuned = {"reward": (0.66, 0.64, 0.67)}
    j = {
        "base": {
            "gemma-judge": (0.46, 0.43, 0.49),
            "gemma-fluency": (3.10, 3.00, 3.20),
            "mpnet-relevance": (0.34, 0.32, 0.36),
            "copy-rate": (0.01, 0.0, 0.02),
        },
        "tuned": {
            "gemma-judge": (0.31, 0.28, 0.34),  # fell, CIs apart
            "gemma-fluency": (3.45, 3.35, 3.55),  # lower is better: worse, CIs apart
            "mpnet-relevance": (0.48, 0.45, 0.50),  # rose
            "copy-rate": (0.24, 0.21, 0.26),  # worse, but not a quality judge: the prompt-copy check's
        },
    }
    f = _find(_run(base, tuned, judges=j), "reward-vs-judges")
    assert f.status == "warning"
    assert "gemma-judge fell 0.46 → 0.31; gemma-fluency rose (lower is better) 3.1 → 3.45." in f.message
    assert "The training reward rose (0.3 → 0.66)" in f.message
    assert "mpnet-relevance" not in f.message and "copy-rate" not in f.values["judges"]
    # overlapping judge intervals: no claim
    j["tuned"]["gemma-judge"] = (0.42, 0.39, 0.45)
    j["tuned"]["gemma-fluency"] = (3.18, 3.08, 3.28)
    f = _find(_run(base, tuned, judges=j), "reward-vs-judges")
    assert (
        f.status == "ok"
        and "no held-out quality judge (gemma-judge, gemma-fluency, mpnet-relevance)" in f.message
    )
    # the judges fall but the reward's intervals overlap: not the hacking pattern
    j["tuned"]["gemma-judge"] = (0.31, 0.28, 0.34)
    f = _find(_run(base, {"reward": (0.33, 0.30, 0.36)}, judges=j), "reward-vs-judges")
    assert f.status == "ok" and "did not clearly rise" in f.message and "intervals overlap" in f.message
    f = _find(_run({"reward": 0.5}, {"reward": 0.4}, judges=j), "reward-vs-judges")
    assert f.status == "ok" and "it did not rise" in f.message


def test_reward_vs_judges_skipped():
    f = _find(_run({}, {}), "reward-vs-judges")
    assert f.status == "skipped" and "No total reward" in f.message
    j = {"base": {"copy-rate": 0.01, "ead": 0.9}, "tuned": {"copy-rate": 0.2, "ead": 0.7}}
    f = _find(
        _run(
            {"reward": 0.3},
            {"reward": 0.6},
            judges=j,
            judges_skipped={"gemma-judge": "x", "gemma-fluency": "x"},
        ),
        "reward-vs-judges",
    )
    assert f.status == "skipped" and f.message.endswith("; not run: gemma-fluency, gemma-judge.")
    no_mean = {"base": {"gemma-judge": 0.4}, "tuned": {"gemma-judge": None}}  # NaN in eval.json reads as None
    f = _find(_run({"reward": 0.3}, {"reward": 0.6}, judges=no_mean), "reward-vs-judges")
    assert f.status == "skipped" and f.message.startswith("No held-out quality judge")


def test_training_curves_of_entropy_and_completion_rate():
    rows = [
        {"step": 1, "reward": 0.2, "entropy": 3.4, "completions/clipped_ratio": 0.25},
        {"step": 2, "reward": 0.3, "entropy": 2.0, "completions/clipped_ratio": 1.0},
    ]
    run = RunData(path=Path("."), name="r", metrics=rows)
    panels = {p["key"]: p for p in training_series(run)}
    assert list(panels) == ["reward", "entropy", "completions/clipped_ratio"]
    assert panels["entropy"]["y"] == [3.4, 2.0] and panels["entropy"]["ylabel"] == "nats/token"
    assert panels["completions/clipped_ratio"]["y"] == [0.75, 0.0]  # completion rate = 1 - clipped ratio
    assert panels["completions/clipped_ratio"]["title"] == "completion rate (ended inside the limit)"
    png = training_figure(run)
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"
