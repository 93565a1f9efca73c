"""Turn loaded runs into the report's data (the content of ``report.json``): tables, comparisons, the
quality-versus-creativity points with their Pareto front, diagnostics and sample selections."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .categories import DIAGNOSTIC_METRICS, metric_info, normalised
from .diagnostics import Thresholds, run_diagnostics
from .plots import component_keys
from .runs import RunData

__all__ = [
    "run_components",
    "run_entry",
    "judge_info",
    "compare_runs",
    "pareto_points",
    "select_samples",
    "pareto_front",
]


def _text(item: Any) -> str:
    """Plain text of a prompt or completion stored as a string or as chat messages."""
    if item is None:
        return ""
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        return str(item.get("content", ""))
    if isinstance(item, Sequence):
        return "\n".join(_text(m) for m in item)
    return str(item)


def _num(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def run_components(run: RunData) -> list[str]:
    """The reward components of a run, from (in order of preference) eval.json ``components``, the config's
    reward spec (presets expanded by :func:`aigc_rl.rewards.parse_spec`, or for an image run by
    :func:`aigc_rl.rewards.image_reward_pairs` with the image presets), the components logged in
    metrics.jsonl, or the eval metrics that are quality or creativity metrics."""
    comps = (run.eval or {}).get("components")
    if isinstance(comps, list) and comps:
        return [str(c) for c in comps]
    spec = run.reward_spec
    if spec:
        try:
            from aigc_rl.rewards.spec import image_reward_pairs, parse_spec

            pairs = image_reward_pairs(spec) if run.kind == "image" else parse_spec(spec)
            return [name for name, _ in pairs]
        except Exception:
            pass
    logged = list(component_keys(run.metrics))
    if logged:
        return logged
    seen: list[str] = []
    for metrics in run.policies.values():
        for m in metrics:
            if m not in seen and metric_info(m, metrics).category in ("quality", "creativity"):
                seen.append(m)
    return seen


def _metric_order(run: RunData, components: list[str]) -> list[str]:
    """Eval metrics in display order: reward, the run's components, then the rest (diagnostics last)."""
    present: list[str] = []
    for metrics in run.policies.values():
        for m in metrics:
            if m not in present:
                present.append(m)
    first = [m for m in ["reward", *components] if m in present]
    rest = [m for m in present if m not in first and m not in DIAGNOSTIC_METRICS]
    diag = [m for m in present if m in DIAGNOSTIC_METRICS and m not in first]
    return first + rest + diag


def select_samples(samples: list[dict[str, Any]], n: int = 3) -> dict[str, Any]:
    """Pair base and tuned samples by prompt and pick the prompts where tuning helped most and least.

    The reward delta of a prompt is ``mean(tuned rewards) - mean(base rewards)`` over its samples. Each item
    shows the first completion of each policy for that prompt.

    Args:
        samples: Rows of samples.jsonl.
        n: How many best and how many worst prompts.

    Returns:
        ``{"n_samples", "n_prompts_paired", "best": [item], "worst": [item], "examples": [item]}`` where an
        item is ``{"prompt", "base", "tuned", "base_reward", "tuned_reward", "delta", "n_base", "n_tuned"}``;
        ``examples`` holds the first ``2n`` pairs when no rewards allow ranking.
    """
    by_prompt: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for row in samples:
        pol = str(row.get("policy", ""))
        if pol not in ("base", "tuned"):
            continue
        by_prompt.setdefault(_text(row.get("prompt")), {"base": [], "tuned": []})[pol].append(row)
    items: list[dict[str, Any]] = []
    for prompt, pols in by_prompt.items():
        if not pols["base"] or not pols["tuned"]:
            continue

        def mean_reward(rows: list[dict[str, Any]]) -> float | None:
            vals = [v for r in rows if (v := _num(r.get("reward"))) is not None]
            return sum(vals) / len(vals) if vals else None

        br, tr = mean_reward(pols["base"]), mean_reward(pols["tuned"])
        items.append(
            {
                "prompt": prompt,
                "base": _text(pols["base"][0].get("completion")),
                "tuned": _text(pols["tuned"][0].get("completion")),
                "base_reward": br,
                "tuned_reward": tr,
                "delta": None if br is None or tr is None else tr - br,
                "n_base": len(pols["base"]),
                "n_tuned": len(pols["tuned"]),
            }
        )
    ranked = sorted((i for i in items if i["delta"] is not None), key=lambda i: i["delta"], reverse=True)
    best = ranked[:n]
    worst = [i for i in reversed(ranked) if i not in best][:n]
    examples = [] if ranked else items[: 2 * n]
    return {
        "n_samples": len(samples),
        "n_prompts_paired": len(items),
        "best": best,
        "worst": worst,
        "examples": examples,
    }


def _training_summary(run: RunData) -> dict[str, Any]:
    if not run.metrics:
        return {"n_rows": 0}
    keys = ["reward", "kl", "completions/mean_length", "loss", "entropy"]
    keys += [mk for mk, _ in component_keys(run.metrics).values()]
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for k in keys:
        vals = [v for row in run.metrics if (v := _num(row.get(k))) is not None]
        if vals:
            first[k], last[k] = vals[0], vals[-1]
    steps = [v for row in run.metrics if (v := _num(row.get("step"))) is not None]
    return {
        "n_rows": len(run.metrics),
        "last_step": steps[-1] if steps else None,
        "first": first,
        "last": last,
    }


def judge_info(judges: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{judge: {"kind", "direction", "range"}}`` for the judges in ``judges`` (policy -> judge -> value),
    from the judge registry (:mod:`aigc_rl.judges`); a judge it does not know gets ``None`` fields.

    ``direction`` is ``"higher"`` or ``"lower"`` (which way is better), ``range`` ``[low, high]`` (``None`` for
    an unbounded side).
    """
    from aigc_rl.judges import JUDGES, judge_names

    judge_names()  # registers every judge (imports no model)
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(j for pol in judges.values() for j in pol):
        cls = JUDGES.get(name)
        rng = getattr(cls, "range", None)
        out[name] = {
            "kind": getattr(cls, "kind", None),
            "direction": getattr(cls, "direction", None),
            "range": None if rng is None else [v if math.isfinite(v) else None for v in rng],
        }
    return out


def _lineage_text(lineage: Any) -> str | None:
    """``"model → sft (runs/a) → grpo (runs/b)"`` from ``eval.json``'s ``lineage`` (``None`` without one)."""
    if not isinstance(lineage, list) or not lineage:
        return None
    return " → ".join(str(s.get("label")) if isinstance(s, dict) else str(s) for s in lineage)


def run_entry(run: RunData, thresholds: Thresholds | None = None, n_samples: int = 3) -> dict[str, Any]:
    """The report.json entry of one run (figures are added by the renderer)."""
    components = run_components(run)
    cfg = run.config
    entry: dict[str, Any] = {
        "name": run.name,
        "path": str(run.path),
        "kind": run.kind,
        "model": run.model,
        "task": None if (task := cfg.get("task", (run.eval or {}).get("task"))) is None else str(task),
        "reward": run.reward_spec,
        "agent": cfg.get("agent"),
        "max_steps": cfg.get("max_steps"),
        "seed": cfg.get("seed"),
        "env": cfg.get("env"),
        "config": cfg,
        "missing": list(run.missing),
        "problems": list(run.problems),
        "components": components,
        "n_prompts": (run.eval or {}).get("n_prompts"),
        "metric_order": _metric_order(run, components),
        "policies": run.policies,
        "judges": run.judges,
        "lineage": (run.eval or {}).get("lineage") or None,
        "lineage_text": _lineage_text((run.eval or {}).get("lineage")),
        "judges_skipped": run.judges_skipped,
        "judge_info": judge_info(run.judges),
        "training": _training_summary(run),
        "diagnostics": [f.to_dict() for f in run_diagnostics(run, thresholds)]
        if (run.eval or run.metrics)
        else [],
        "samples": select_samples(run.samples, n_samples) if run.kind != "image" else None,
        "figures": {},
    }
    entry["metric_info"] = {
        m: {
            "category": (i := metric_info(m, entry["metric_order"])).category,
            "direction": i.direction,
            "range": list(i.value_range),
        }
        for m in entry["metric_order"]
    }
    return entry


def compare_runs(runs: list[RunData]) -> dict[str, Any]:
    """Compare runs of one kind on the metrics they share.

    Shared metrics are the reward components and diagnostics (length, repetition, kl) that every run's
    eval.json holds for every policy; the total ``reward`` is shared only when all runs use the same reward
    spec (otherwise the totals measure different things).

    Returns:
        ``{"runs": [names], "shared": [metrics], "not_shared": {metric: [runs that have it]},
        "reward_comparable": bool, "columns": [{"run", "policy", "label"}],
        "table": {metric: {label: {"mean", "ci95"}}}}``.
    """
    with_eval = [r for r in runs if r.policies]
    have: dict[str, list[str]] = {}
    per_run: dict[str, set[str]] = {}
    for r in with_eval:
        pols = list(r.policies.values())
        metrics = set(pols[0]).intersection(*pols[1:]) if pols else set()
        per_run[r.name] = metrics
        for m in sorted(metrics):
            have.setdefault(m, []).append(r.name)
    specs = {r.reward_spec for r in with_eval}
    reward_comparable = len(specs) == 1 and None not in specs
    all_metrics = set(have)
    shared_set = set.intersection(*per_run.values()) if per_run else set()
    if not reward_comparable:
        shared_set.discard("reward")
    order: list[str] = []
    for r in with_eval:
        for m in _metric_order(r, run_components(r)):
            if m in all_metrics and m not in order:
                order.append(m)
    order = [m for m in order if m not in DIAGNOSTIC_METRICS] + [m for m in order if m in DIAGNOSTIC_METRICS]
    shared = [m for m in order if m in shared_set]
    not_shared = {m: have[m] for m in order if m not in shared_set}
    columns = [
        {"run": r.name, "policy": p, "label": f"{r.name} · {p}"} for r in with_eval for p in r.policies
    ]
    table = {
        m: {
            c["label"]: next(r for r in with_eval if r.name == c["run"]).policies[c["policy"]].get(m)
            for c in columns
        }
        for m in shared
    }
    return {
        "runs": [r.name for r in with_eval],
        "shared": shared,
        "not_shared": not_shared,
        "reward_comparable": reward_comparable,
        "columns": columns,
        "table": table,
    }


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """Non-dominated flags for points to be maximised on both axes.

    A point is dominated when another point is at least as good on both axes and better on one.

    Returns:
        One bool per point, True when it is on the Pareto front.
    """
    flags = []
    for i, (q, c) in enumerate(points):
        dominated = any(
            (q2 >= q and c2 >= c) and (q2 > q or c2 > c) for j, (q2, c2) in enumerate(points) if j != i
        )
        flags.append(not dominated)
    return flags


def pareto_points(runs: list[RunData]) -> dict[str, Any]:
    """Quality and creativity score of every (run, policy) of one kind, and the Pareto front.

    Quality is the mean of the normalised quality metrics (:func:`aigc_rl.report.categories.normalised`, 1 =
    best) that every point has; creativity likewise for the creativity metrics. When the runs share no metric
    of a category, each point uses the ones it has and ``comparable`` is False.

    Returns:
        ``{"quality_metrics", "creativity_metrics", "comparable", "points": [{"run", "policy", "label",
        "quality", "creativity", "on_front"}], "excluded": [labels]}``.
    """
    raw: list[tuple[str, str, dict[str, dict[str, Any]]]] = [
        (r.name, p, metrics) for r in runs for p, metrics in r.policies.items()
    ]
    if not raw:
        return {
            "quality_metrics": [],
            "creativity_metrics": [],
            "comparable": True,
            "points": [],
            "excluded": [],
        }

    def names_of(cat: str, metrics: dict[str, Any]) -> set[str]:
        return {
            m
            for m, v in metrics.items()
            if metric_info(m, metrics).category == cat and v.get("mean") is not None
        }

    comparable = True
    axes: dict[str, list[str]] = {}
    for cat in ("quality", "creativity"):
        sets = [names_of(cat, m) for _, _, m in raw]
        shared = set.intersection(*sets)
        if not shared and any(sets):
            comparable = False
        axes[cat] = sorted(shared)
    observed: dict[str, list[float]] = {}
    for _, _, metrics in raw:
        for m, v in metrics.items():
            if v.get("mean") is not None:
                observed.setdefault(m, []).append(v["mean"])

    def score(cat: str, metrics: dict[str, Any]) -> float | None:
        use = axes[cat] or sorted(names_of(cat, metrics))
        vals = [
            normalised(m, metrics[m]["mean"], observed[m], metrics)
            for m in use
            if metrics.get(m, {}).get("mean") is not None
        ]
        return sum(vals) / len(vals) if vals else None

    points: list[dict[str, Any]] = []
    excluded: list[str] = []
    for run, pol, metrics in raw:
        q, c = score("quality", metrics), score("creativity", metrics)
        label = f"{run} · {pol}"
        if q is None or c is None:
            excluded.append(label)
            continue
        points.append({"run": run, "policy": pol, "label": label, "quality": q, "creativity": c})
    for p, on in zip(points, pareto_front([(p["quality"], p["creativity"]) for p in points]), strict=True):
        p["on_front"] = on
    return {
        "quality_metrics": axes["quality"],
        "creativity_metrics": axes["creativity"],
        "comparable": comparable,
        "points": points,
        "excluded": excluded,
    }
