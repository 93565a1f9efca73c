"""How well each held-out judge separates bad completions from good ones (ROC AUC), on the calibration set.

Usage::

    python benchmarks/judge_separation.py [--judges copy-rate,completion,...] [--out FILE.json]

Reads ``aigc_rl/data/judge_calibration/calibration.jsonl`` (84 good, 5 x 42 bad completions of 42 training
prompts) and prints one JSON object: per judge, the ROC AUC (``sklearn.metrics.roc_auc_score``) of good
against each bad kind and against all bad ones, with scores oriented so that higher = judged better (a
"lower is better" judge is negated), the mean score per kind, the seconds it took, and whether it counts
(a quality judge counts only at overall AUC >= 0.8). The diversity judges are also scored on groups
(``diverse`` = a prompt's two good completions vs ``duplicate`` = one and a near-copy of it): AUC
``group:diverse_vs_duplicate``. AUC 0.5 = no separation, 1.0 = perfect, below 0.5 = inverted.

``auc_halves`` gives the same AUCs on the *design* half of the prompts
(:func:`aigc_rl.judges.calibration.design_prompt_ids`, seed 0: where a judge's design choices are made) and on
the other, *held-out* half (where they are checked). Judges run in one process in the order given, so
``gemma-relevance`` after ``gemma-fluency`` reuses its conditional pass and its ``seconds`` count only its own
second pass.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from sklearn.metrics import roc_auc_score

from aigc_rl.judges import get_judge
from aigc_rl.judges.calibration import BAD_KINDS, build_diversity_groups, design_prompt_ids, load_calibration

ALL = [
    "gemma-fluency",
    "gemma-judge",
    "gemma-relevance",
    "mpnet-relevance",
    "copy-rate",
    "completion",
    "ead",
    "semantic-diversity",
]
COUNT_AT = 0.8


def _auc(good: list[float], bad: list[float]) -> float:
    return float(roc_auc_score([1] * len(good) + [0] * len(bad), good + bad))


def _aucs(oriented: list[float], rows: list[dict], keep: set[str] | None = None) -> dict[str, float]:
    """AUC of good vs each bad kind and vs all bad rows, over the rows of the prompts in ``keep`` (all if None)."""
    sel = [(s, r) for s, r in zip(oriented, rows, strict=True) if keep is None or r["prompt_id"] in keep]
    good = [s for s, r in sel if r["kind"] == "good"]
    auc = {k: _auc(good, [s for s, r in sel if r["kind"] == k]) for k in BAD_KINDS}
    auc["overall"] = _auc(good, [s for s, r in sel if r["label"] == "bad"])
    return auc


def separation(name: str, rows: list[dict], groups: list[dict]) -> dict:
    kwargs = {"per_sample": True} if name == "ead" else {}
    judge = get_judge(name, **kwargs)
    sign = 1.0 if judge.direction == "higher" else -1.0
    t0 = time.perf_counter()
    prompts = [r["prompt"] for r in rows]
    # per-sample judges: every row its own group, so group judges do not pool different rows of a prompt
    scores = judge([r["completion"] for r in rows], prompts, groups=list(range(len(rows))))
    seconds = time.perf_counter() - t0
    oriented = [sign * s for s in scores]
    auc = _aucs(oriented, rows)
    design = design_prompt_ids()
    halves = {
        "design": _aucs(oriented, rows, design),
        "heldout": _aucs(oriented, rows, {r["prompt_id"] for r in rows} - design),
    }
    means = {
        k: sum(s for s, r in zip(scores, rows, strict=True) if r["kind"] == k)
        / sum(r["kind"] == k for r in rows)
        for k in ("good", *BAD_KINDS)
    }
    out = {
        **judge.describe(),
        "auc": auc,
        "auc_halves": halves,
        "mean": means,
        "seconds": round(seconds, 2),
    }
    if judge.kind == "diversity":
        gjudge = get_judge(name)
        comps = [c for g in groups for c in g["completions"]]
        keys = [i for i, g in enumerate(groups) for _ in g["completions"]]
        gs = gjudge(comps, [g["prompt"] for g in groups for _ in g["completions"]], groups=keys)
        per_group = {k: gs[keys.index(k)] for k in set(keys)}
        div = [per_group[i] for i, g in enumerate(groups) if g["kind"] == "diverse"]
        dup = [per_group[i] for i, g in enumerate(groups) if g["kind"] == "duplicate"]
        out["auc"]["group:diverse_vs_duplicate"] = _auc(div, dup)
        out["mean"]["group:diverse"] = sum(div) / len(div)
        out["mean"]["group:duplicate"] = sum(dup) / len(dup)
    out["counts"] = judge.kind != "quality" or auc["overall"] >= COUNT_AT
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--judges", default=",".join(ALL), help="comma-separated judge names (default: all)")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    rows, groups = load_calibration(), build_diversity_groups()
    result = {
        "n_good": sum(r["label"] == "good" for r in rows),
        "n_bad": {k: sum(r["kind"] == k for r in rows) for k in BAD_KINDS},
        "count_at_auc": COUNT_AT,
        "judges": {},
    }
    for name in args.judges.split(","):
        result["judges"][name] = separation(name.strip(), rows, groups)
        print(
            f"{name}: overall AUC {result['judges'][name]['auc']['overall']:.3f}", file=sys.stderr, flush=True
        )
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
