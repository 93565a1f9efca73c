"""The report's metric categories come from the reward registry (issue 9: the report read a ``category``
attribute rewards do not have, and a fallback table gave BLEU a 0-100 range)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import aigc_rl.report.categories as categories
from aigc_rl.report import RunData
from aigc_rl.report.build import pareto_points, run_components
from aigc_rl.report.categories import DIAGNOSTIC_METRICS, metric_info, normalised


@pytest.mark.parametrize(
    "name,category",
    [
        ("embedding-diversity", "creativity"),
        ("semantic-novelty", "creativity"),
        ("image-diversity", "creativity"),
        ("target-class", "quality"),
    ],
)
def test_rewards_that_landed_under_other_are_categorised(name, category):
    """Case (issue 9): these four rewards were 'other' and dropped off the quality-vs-creativity plot."""
    info = metric_info(name)
    assert (info.category, info.source) == (category, "registry")


def test_bleu_range_is_the_rewards_range():
    """Case (issue 9): the fallback table said BLEU is 0-100; the reward returns 0-1."""
    assert metric_info("bleu").value_range == (0.0, 1.0)
    assert normalised("bleu", 0.25) == pytest.approx(0.25)  # 0.0025 with the old 0-100 range
    assert metric_info("chrf").value_range == (0.0, 1.0)


def test_no_table_of_its_own():
    assert not hasattr(categories, "FALLBACK")
    assert DIAGNOSTIC_METRICS == ("length", "repetition", "kl")
    assert metric_info("length").source == "eval-metric"  # eval.json's word count, not the length reward
    assert metric_info("harm").category == "other" and metric_info("harm").direction == "minimize"
    assert metric_info("readability").value_range == (-math.inf, 121.22)


def test_metric_names_never_import_modules():
    """A metric name from a run directory that looks like a dotted path is not imported."""
    info = metric_info("os:getcwd")
    assert (info.category, info.source) == ("other", "unknown")


def _run(name: str, metrics: dict[str, float], kind: str = "text", reward: str | None = None) -> RunData:
    ev = {"policies": {"base": {m: {"mean": v, "ci95": None} for m, v in metrics.items()}}}
    return RunData(
        path=Path(name), name=name, kind=kind, config={"reward": reward} if reward else {}, eval=ev
    )


def test_embedding_and_image_diversity_runs_are_on_the_quality_creativity_plot():
    text = pareto_points([_run("t", {"relevance": 0.5, "embedding-diversity": 1.0, "reward": 0.3})])
    assert text["creativity_metrics"] == ["embedding-diversity"] and text["excluded"] == []
    assert text["points"][0]["creativity"] == pytest.approx(0.5)  # 1.0 on [0, 2]
    image = pareto_points([_run("i", {"target-class": 0.9, "image-diversity": 0.2}, kind="image")])
    assert (image["quality_metrics"], image["creativity_metrics"]) == (["target-class"], ["image-diversity"])
    assert image["points"][0]["quality"] == pytest.approx(0.9) and image["excluded"] == []


def test_image_run_components_use_the_image_presets():
    run = _run("i", {"reward": 0.1}, kind="image", reward="quality+creativity")
    assert run_components(run) == ["target-class", "realism", "image-diversity"]
    text = _run("t", {"reward": 0.1}, reward="quality+creativity")
    assert run_components(text) == ["relevance", "fluency", "distinct-2"]


def test_a_reward_named_like_an_eval_statistic_keeps_its_own_metadata():
    """A run trained with the `length` reward: eval.json holds the reward as `length` (0-1, quality) and the
    word count as `length (eval)`; the report must treat each as what it is."""
    present = {"reward": {}, "length": {}, "length (eval)": {}, "repetition": {}}
    reward = metric_info("length", present)
    assert (reward.category, reward.value_range, reward.source) == ("quality", (0.0, 1.0), "registry")
    words = metric_info("length (eval)", present)
    assert (words.category, words.value_range, words.source) == ("other", (0.0, math.inf), "eval-metric")
    assert metric_info("length", {"length": {}}).source == "eval-metric"  # no reward of that name: word count
    assert normalised("length", 0.25, [0.25, 0.75], present) == pytest.approx(0.25)  # the reward's 0-1 range
    assert normalised("length", 10.0, [10.0, 30.0]) == pytest.approx(0.0)  # word count: min-max
