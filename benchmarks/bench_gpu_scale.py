"""Issue 13 item 6, prepared for a GPU machine: generation tokens/s and GRPO steps/s of ``aigc-rl train``'s
trainer against plain TRL with the same settings, each under ``accelerate launch`` with 1 GPU in bf16
(``configs/accelerate/single-gpu.yaml``), with and without vLLM (colocate mode) when vllm is installed.

Variants, each in its own ``accelerate launch`` process:

* ``aigc``: the trainer ``aigc-rl train`` builds (:func:`aigc_rl.agents.trl.trainer.build_trainer`, LoRA,
  its callbacks), reward ``distinct-2`` (no reward model, so generation and training dominate);
* ``trl``: a plain ``trl.GRPOTrainer`` with the same ``GRPOConfig`` values, LoRA and prompts, and a
  hand-written distinct-2 reward;
* ``aigc-vllm`` / ``trl-vllm``: the same with ``use_vllm=True, vllm_mode="colocate"`` (only when vllm imports).

Each process trains one warm-up step and then ``--steps`` timed steps. A step is timed from
``on_step_begin`` to ``on_step_end`` (generation, reward, reference log-probs, loss, optimiser step);
generation is the trainer's ``_generate`` call (for vLLM it includes copying the weights into the engine).
Prints one JSON object::

    {"device": "...", "settings": {...}, "variants": {"aigc": {"steps_per_s": .., "gen_tokens_per_s": ..,
     "completion_tokens": ..}, ...}, "ratio_steps": {"aigc/trl": .., "aigc-vllm/trl-vllm": ..}}

Run on the GPU machine (offline: the embedded SmolLM2 must be installed)::

    python benchmarks/bench_gpu_scale.py --steps 10 --out bench_gpu_scale.json

``--accelerate-config none --device cpu --model DIR`` runs the workers without accelerate on the CPU (what
was checked on the CPU-only machine of issue 13; no GPU figures exist yet).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SINGLE_GPU = ROOT / "configs" / "accelerate" / "single-gpu.yaml"


def _config(args: argparse.Namespace, run_dir: Path) -> Any:
    from aigc_rl.config import TrainConfig

    return TrainConfig(
        model=args.model,
        reward="distinct-2",
        max_steps=args.steps + 1,
        num_generations=args.num_generations,
        prompts_per_step=args.prompts_per_step,
        max_new_tokens=args.max_new_tokens,
        save_steps=10**9,
        device=args.device,
        output_dir=str(run_dir),
        use_vllm=args.variant.endswith("-vllm"),
    )


def _aigc_trainer(cfg: Any, run_dir: Path) -> Any:
    from aigc_rl.agents.trl.trainer import build_trainer
    from aigc_rl.models import load_causal_lm
    from aigc_rl.train import make_reward, make_text_task

    reward = make_reward(cfg)
    model, tokenizer = load_causal_lm(cfg.model, device=cfg.device)
    task = make_text_task(cfg, tokenizer, "train", reward)
    return build_trainer(cfg, task, model, tokenizer, run_dir, use_cuda=cfg.device.startswith("cuda"))


def _trl_trainer(cfg: Any, run_dir: Path) -> Any:
    """``trl.GRPOTrainer`` with the values ``build_trainer`` passes, and distinct-2 written by hand."""
    import re

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from aigc_rl.models import resolve_model
    from aigc_rl.prompts import load_prompts

    cuda = cfg.device.startswith("cuda")
    path = resolve_model(cfg.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if cuda else torch.float32
    policy = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(cfg.device)
    word = re.compile(r"\w+|[^\w\s]")

    def distinct2(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        texts = [c[-1]["content"] for c in completions]
        grams = [list(zip(w, w[1:], strict=False)) for w in (word.findall(t.lower()) for t in texts)]
        return [len(set(g)) / len(g) if g else 0.0 for g in grams]

    rows = load_prompts(cfg.task, "train")
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}]} for r in rows])
    extra = dict(use_vllm=True, vllm_mode="colocate") if cfg.use_vllm else {}
    args = GRPOConfig(
        output_dir=str(run_dir / "checkpoints"),
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.prompts_per_step * cfg.num_generations,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_new_tokens,
        temperature=cfg.temperature,
        beta=cfg.beta,
        max_steps=cfg.max_steps,
        save_steps=10**9,
        seed=cfg.seed,
        report_to="none",
        bf16=cuda,
        use_cpu=not cuda,
        lr_scheduler_type="constant",
        log_completions=False,
        gradient_checkpointing=False,
        loss_type=cfg.loss_type,
        **extra,
    )
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    return GRPOTrainer(
        model=policy,
        reward_funcs=distinct2,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora,
    )


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Train ``args.variant`` for one warm-up and ``args.steps`` timed steps; its timings."""
    from transformers import TrainerCallback

    steps: list[float] = []
    gen: list[tuple[float, int]] = []  # (seconds, completion tokens) of each _generate call
    with tempfile.TemporaryDirectory() as tmp:
        cfg = _config(args, Path(tmp))
        trainer = (_trl_trainer if args.variant.startswith("trl") else _aigc_trainer)(cfg, Path(tmp))
        inner = trainer._generate

        def timed_generate(prompts: list) -> Any:
            t0 = time.perf_counter()
            out = inner(prompts)
            gen.append((time.perf_counter() - t0, sum(len(c) for c in out[1])))
            return out

        trainer._generate = timed_generate
        t0 = [0.0]

        class StepTimer(TrainerCallback):
            def on_step_begin(self, a: Any, state: Any, control: Any, **kw: Any) -> None:
                t0[0] = time.perf_counter()

            def on_step_end(self, a: Any, state: Any, control: Any, **kw: Any) -> None:
                steps.append(time.perf_counter() - t0[0])

        trainer.add_callback(StepTimer())
        trainer.train()
    timed, timed_gen = steps[1:], gen[1:]  # one _generate call per step (steps_per_generation 1); no warm-up
    gen_s = sum(s for s, _ in timed_gen)
    tokens = sum(n for _, n in timed_gen)
    return {
        "steps_per_s": round(1.0 / statistics.median(timed), 4) if timed else None,
        "median_step_s": round(statistics.median(timed), 4) if timed else None,
        "gen_tokens_per_s": round(tokens / gen_s, 1) if gen_s > 0 else None,
        "completion_tokens": tokens,
        "gen_share_of_step": round(gen_s / sum(timed), 3) if timed else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per variant (after one warm-up step)")
    ap.add_argument("--num-generations", type=int, default=8)
    ap.add_argument("--prompts-per-step", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--device", default="cuda")
    ap.add_argument(
        "--accelerate-config", default=str(SINGLE_GPU), help="'none': run the workers with python"
    )
    ap.add_argument(
        "--variants", nargs="+", default=None, help="default: aigc trl (+ -vllm when vllm imports)"
    )
    ap.add_argument("--out", default=None, help="also write the JSON here")
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:  # a worker process
        res = worker(args)
        if args.result and int(__import__("os").environ.get("RANK", "0")) == 0:
            Path(args.result).write_text(json.dumps(res), encoding="utf-8")
        return
    has_vllm = importlib.util.find_spec("vllm") is not None
    variants = args.variants or ["aigc", "trl"] + (["aigc-vllm", "trl-vllm"] if has_vllm else [])
    results: dict[str, Any] = {}
    for v in variants:
        with tempfile.TemporaryDirectory() as tmp:
            result = Path(tmp) / "result.json"
            launch = [] if args.accelerate_config == "none" else ["-m", "accelerate.commands.launch"]
            launch += [] if args.accelerate_config == "none" else ["--config_file", args.accelerate_config]
            cmd = [sys.executable, *launch, __file__, "--variant", v, "--result", str(result)]
            for name in ("model", "steps", "num_generations", "prompts_per_step", "max_new_tokens", "device"):
                cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0 or not result.is_file():
                results[v] = {"error": proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]}
            else:
                results[v] = json.loads(result.read_text(encoding="utf-8"))
    ratios = {}
    for a, b in (("aigc", "trl"), ("aigc-vllm", "trl-vllm"), ("aigc-vllm", "aigc")):
        sa, sb = (results.get(x, {}).get("steps_per_s") for x in (a, b))
        if sa and sb:
            ratios[f"{a}/{b}"] = round(sa / sb, 3)
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    out = {
        "device": device,
        "vllm_installed": has_vllm,
        "settings": {k: getattr(args, k) for k in ("model", "steps", "num_generations", "prompts_per_step")}
        | {"max_new_tokens": args.max_new_tokens, "accelerate_config": args.accelerate_config},
        "variants": results,
        "ratio_steps": ratios,
    }
    print(json.dumps(out))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
