"""What the Gemma judges cost in ``aigc-rl eval``: seconds to score a run's samples as ``score_judges`` does.

Usage::

    python benchmarks/bench_judge_cost.py --samples RUN/samples.jsonl [--judges gemma-fluency,gemma-relevance]
        [--threads 1]

Reads the ``samples.jsonl`` that ``aigc-rl eval`` writes (one row per completion with ``prompt``,
``completion`` and ``policy``; 60 prompts x 2 samples x 2 policies = 240 rows by default; the
measurement in ``benchmarks/results/judge_cost.json`` used a 4-sample eval, 480 rows) and scores each
policy's completions in one call per judge, as ``aigc_rl.judges.evaluate.score_judges`` does. Prints one JSON
object: for each judge alone (the per-process memo of Gemma's conditional pass cleared before it) and for the
judges in the order given in one process (later ones reuse what earlier ones computed; ``aigc-rl eval`` runs
them in name order, as the default does), the wall seconds and the process CPU seconds. With ``--threads 1``
the CPU seconds are the single-core cost even on a busy machine; wall seconds then depend on the load.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from aigc_rl.judges import get_judge, lm


def _timed(fn) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return {"wall_s": round(time.perf_counter() - wall, 1), "cpu_s": round(time.process_time() - cpu, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", required=True, help="a run's samples.jsonl (from aigc-rl eval)")
    ap.add_argument("--judges", default="gemma-fluency,gemma-relevance", help="comma-separated Gemma judges")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with open(args.samples, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    policies: dict[str, tuple[list[str], list[str]]] = {}
    for r in rows:
        c, p = policies.setdefault(r.get("policy", "base"), ([], []))
        c.append(r["completion"])
        p.append(r["prompt"])
    names = [n.strip() for n in args.judges.split(",")]
    judges = {n: get_judge(n, device="cpu") for n in names}
    lm.load_gemma("cpu")
    result = {
        "samples": args.samples,
        "n_completions": len(rows),
        "n_prompts": len({r["prompt"] for r in rows}),
        "threads": torch.get_num_threads(),
        "alone": {},
        "in_order": {},
    }
    for n in names:
        lm._MEMO.clear()
        result["alone"][n] = _timed(lambda j=judges[n]: [j(c, p) for c, p in policies.values()])
    lm._MEMO.clear()
    for n in names:
        result["in_order"][n] = _timed(lambda j=judges[n]: [j(c, p) for c, p in policies.values()])
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
