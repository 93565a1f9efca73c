"""benchmarks/ablation.py's table: pooling over seeds, per-seed values, earlier single-seed results, checks.

Hand-computed small case: two prompts, two samples each, configuration X at seeds 0 and 1.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ablation():
    spec = importlib.util.spec_from_file_location("ablation", ROOT / "benchmarks" / "ablation.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write(run: Path, rows: list[tuple[str, str, float, float]]) -> None:
    """rows: (policy, prompt, reward, mpnet-relevance)."""
    run.mkdir(parents=True)
    lines = [
        json.dumps({"policy": p, "prompt": q, "reward": r, "length": 10.0, "judges": {"mpnet-relevance": m}})
        for p, q, r, m in rows
    ]
    (run / "samples.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_pooled_per_seed_and_mean_over_seeds(tmp_path, ablation):
    # seed 0: tuned mpnet per prompt a: (0.4+0.6)/2 = 0.5, b: 0.3; seed 1: a 0.7, b 0.5
    _write(
        tmp_path / "X-s0",
        [("base", "a", 0.0, 0.2), ("base", "a", 0.0, 0.2), ("base", "b", 0.0, 0.1), ("base", "b", 0.0, 0.1)]
        + [
            ("tuned", "a", 1.0, 0.4),
            ("tuned", "a", 1.0, 0.6),
            ("tuned", "b", 1.0, 0.3),
            ("tuned", "b", 1.0, 0.3),
        ],
    )
    _write(
        tmp_path / "X-s1",
        [("base", q, 0.0, 0.2) for q in "aabb"]
        + [("tuned", "a", 2.0, 0.7)] * 2
        + [("tuned", "b", 2.0, 0.5)] * 2,
    )
    res = ablation.table(tmp_path)["X"]
    assert res["seeds"] == [0, 1]
    # pooled: prompt a = mean(0.5, 0.7) = 0.6, b = mean(0.3, 0.5) = 0.4; mean over prompts 0.5
    assert res["tuned"]["judge: mpnet-relevance"]["mean"] == pytest.approx(0.5)
    assert res["tuned"]["judge: mpnet-relevance"]["n_prompts"] == 2
    assert res["per_seed"][0]["tuned"]["judge: mpnet-relevance"]["mean"] == pytest.approx(0.4)
    assert res["per_seed"][1]["tuned"]["judge: mpnet-relevance"]["mean"] == pytest.approx(0.6)
    assert res["mean_over_seeds"]["tuned"]["training reward"] == pytest.approx(1.5)
    assert res["mean_over_seeds"]["base"]["judge: mpnet-relevance"] == pytest.approx((0.15 + 0.2) / 2)


def test_earlier_single_seed_results_join_per_seed_not_the_pool(tmp_path, ablation):
    _write(tmp_path / "X-s1", [("base", q, 0.0, 0.2) for q in "ab"] + [("tuned", q, 1.0, 0.6) for q in "ab"])
    earlier = {
        "X": {
            "seeds": [0],
            "base": {"judge: mpnet-relevance": {"mean": 0.3, "ci95": [0.2, 0.4], "n_prompts": 2}},
            "tuned": {"judge: mpnet-relevance": {"mean": 0.9, "ci95": [0.8, 1.0], "n_prompts": 2}},
        },
        "Y": {"seeds": [0, 1], "base": {}, "tuned": {}},  # a pooled result is not a seed's: ignored
    }
    res = ablation.table(tmp_path, earlier)
    x = res["X"]
    assert x["seeds"] == [1] and x["earlier_seeds"] == [0]
    assert list(x["per_seed"]) == [0, 1]
    assert x["tuned"]["judge: mpnet-relevance"]["mean"] == pytest.approx(0.6)  # pool: seed 1 only
    assert x["mean_over_seeds"]["tuned"] == {"judge: mpnet-relevance": pytest.approx(0.75)}
    assert res["Y"]["per_seed"] == {}
    md = ablation.markdown({"X": x})
    assert "X s0" in md and "X s1" in md


def test_criteria_on_a_hand_made_result(ablation):
    def m(mean, lo, hi):
        return {"mean": mean, "ci95": [lo, hi]}

    base = {"judge: mpnet-relevance": m(0.30, 0.28, 0.32), "length (words)": m(15.0, 14, 16)}
    tuned = {"judge: mpnet-relevance": m(0.40, 0.33, 0.45), "length (words)": m(10.0, 9, 11)}
    checks = {what: ok for what, ok, _ in ablation.criteria({"base": base, "tuned": tuned})}
    assert checks["judge: mpnet-relevance improves, CIs apart"] is True
    assert checks["judge: gemma-relevance improves, CIs apart"] is None  # not measured
    assert checks["length within +-30% of base"] is False  # -33%


def test_run_passes_the_budget_to_train_and_eval(tmp_path, ablation, monkeypatch):
    calls: list[list[str]] = []

    def fake_call(cmd, **kwargs):
        calls.append(cmd)
        return 0

    monkeypatch.setattr(ablation.subprocess, "call", fake_call)
    ablation.run(tmp_path, ["C"], [1], jobs=1, judges="none", steps=30, samples=2)
    train, evaluate = calls
    assert train[:2] == ["aigc-rl", "train"] and train[train.index("--seed") + 1] == "1"
    assert train[train.index("--max-steps") + 1] == "30" and train[train.index("--eval-samples") + 1] == "2"
    assert train[train.index("--composition") + 1] == "darling"  # C's own flags are kept
    assert evaluate == ["aigc-rl", "eval", "--run", str(tmp_path / "C-s1"), "--judges", "none"]
    calls.clear()
    ablation.run(tmp_path / "again", ["C"], [0], jobs=1)  # default: the recorded ablation's budget
    assert calls[0][calls[0].index("--max-steps") + 1] == str(ablation.ABLATION_STEPS) == "40"
    assert calls[0][calls[0].index("--eval-samples") + 1] == str(ablation.ABLATION_SAMPLES) == "4"


def test_the_default_job_is_configuration_f(ablation):
    """`aigc-rl train` with no flags and configs/default.yaml run configuration F, the measured main job."""
    import dataclasses

    from aigc_rl.config import TrainConfig

    flags = ablation.CONFIGS["F"][1]
    given = {flags[i].removeprefix("--").replace("-", "_"): flags[i + 1] for i in range(0, len(flags), 2)}
    given["learning_rate"] = float(given["learning_rate"])
    f = TrainConfig(**given)
    default = TrainConfig()
    yaml = TrainConfig(**TrainConfig.read_yaml(ROOT / "configs" / "default.yaml"))
    for name in (fl.name for fl in dataclasses.fields(TrainConfig)):
        assert getattr(f, name) == getattr(default, name), name
        if name != "output_dir":
            assert getattr(yaml, name) == getattr(default, name), name
    assert (default.max_steps, default.eval_samples) == (30, 2)  # the budget F was measured at
