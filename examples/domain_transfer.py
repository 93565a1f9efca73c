"""Domain transfer: supervised fine-tuning on one task's demonstrations, then RL on another task.

The policy is fine-tuned (LoRA, TRL's ``SFTTrainer``) on the shipped ``education`` demonstrations, and GRPO
then starts from that fine-tuned policy on the ``support`` prompts (``init=``: the SFT policy is merged into
the base and is also the KL penalty's reference model). Both runs are evaluated on their own task's held-out
prompts, and one report shows both, the RL run with its lineage base → SFT → RL::

    python examples/domain_transfer.py --out runs/transfer            # about 20 min on 2 CPU cores
    python examples/domain_transfer.py --sft-steps 5 --rl-steps 2 --n-prompts 4   # a quick look

Written for the Python API; the command line does the same with ``aigc-rl sft --task education``, ``aigc-rl
train --task support --init RUN`` and ``aigc-rl eval --run RUN``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aigc_rl.config import TrainConfig
from aigc_rl.evaluation import evaluate_run
from aigc_rl.models import DEFAULT_MODEL
from aigc_rl.report import render_report
from aigc_rl.train import run_train


def main(argv: list[str] | None = None) -> dict:
    """Run SFT on ``--sft-task``, RL on ``--rl-task`` from it, evaluate both and write one report.

    Returns:
        ``{"sft": eval.json of the SFT run, "rl": eval.json of the RL run}``; the RL run's ``policies`` hold
        ``base``, ``init`` (the SFT policy) and ``tuned``.
    """
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--sft-task", default="education", help="task whose shipped demonstrations SFT trains on")
    p.add_argument("--rl-task", default="support", help="task whose prompts RL trains on")
    p.add_argument("--sft-steps", type=int, default=30)
    p.add_argument("--rl-steps", type=int, default=20)
    p.add_argument("--n-prompts", type=int, default=20, help="held-out prompts per evaluation")
    p.add_argument("--reward", default=None, help="reward spec of both runs (default: the text default)")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--judges", default="default", help="held-out judges (see aigc-rl eval --help)")
    p.add_argument("--out", type=Path, default=Path("runs/transfer"))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    common = dict(model=args.model, seed=args.seed, max_new_tokens=args.max_new_tokens)
    if args.reward:
        common["reward"] = args.reward

    sft_dir = run_train(
        TrainConfig(
            agent="sft",
            task=args.sft_task,
            max_steps=args.sft_steps,
            prompts_per_step=8,
            **common,
            output_dir=str(args.out / f"{args.sft_task}-sft"),
        )
    )
    rl_dir = run_train(
        TrainConfig(
            task=args.rl_task,
            init=str(sft_dir),  # start from the fine-tuned policy; it is also the KL reference
            max_steps=args.rl_steps,
            **common,
            output_dir=str(args.out / f"{args.rl_task}-grpo-from-{args.sft_task}-sft"),
        )
    )
    results = {
        "sft": evaluate_run(sft_dir, n_prompts=args.n_prompts, judges=args.judges),
        "rl": evaluate_run(rl_dir, n_prompts=args.n_prompts, judges=args.judges),
    }
    render_report([sft_dir, rl_dir], args.out / "report")
    for name, res in results.items():
        print(f"{name}: {res['task']}, {res['n_prompts']} held-out prompts")
        for policy, metrics in res["policies"].items():
            print(f"  {policy:<6} reward {metrics['reward']['mean']:.3f}")
    print(f"report: {args.out / 'report' / 'report.html'}")
    return results


if __name__ == "__main__":
    main()
