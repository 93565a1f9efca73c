"""GRPO step time of the main job ÷ plain TRL ``GRPOTrainer`` with the same reward written by hand.

The job is aigc-rl 0.1.0's main job, ``configs/quality_creativity.yaml`` (learning rate 2e-4,
``sum_then_normalize``; today's main job is ``configs/default.yaml``): the embedded SmolLM2-135M-Instruct with a
LoRA adapter, content prompts, reward ``quality+creativity`` (relevance 1.0 + fluency 0.1 + distinct-2 0.5), built with the
machinery ``aigc-rl train`` uses (``make_reward``, ``make_text_task``, ``build_trainer``). Three variants run:

* ``main``: as ``aigc-rl train`` builds it (fluency loads its own frozen copy of the base model);
* ``main-shared``: the same, with fluency scoring through the policy's base (adapter disabled,
  :meth:`aigc_rl.rewards.quality.Fluency.share_policy_base`), so the base is loaded once;
* ``trl``: a plain ``trl.GRPOTrainer`` with the same ``GRPOConfig`` values, LoRA, prompts and one reward
  function written by hand (MiniLM cosine relevance, mean token log-prob under a separately loaded copy of
  the base, group distinct-2 over regex word tokens).

Each variant runs in its own process for ``--steps`` optimiser steps after one warm-up step (which loads the
reward models lazily); processes are interleaved (``main, main-shared, trl``, then reversed, ``--rounds``
times). A step is timed from ``on_step_begin`` to ``on_step_end`` of a ``TrainerCallback``: generation,
rewards, reference log-probs, loss and optimiser step. Prints one JSON object::

    {"steps": 3, "rounds": 2, "seconds_per_step": {"main": 4.1, "main-shared": 4.0, "trl": 4.2},
     "ratio": 0.98, "ratio_shared": 0.95, "peak_rss_mib": {...}, "device": "cpu", "threads": 1}

``ratio`` = median main-job step time / median plain-TRL step time (lower is better; issue 9 aims at
<= 0.85); ``ratio_shared`` the same for ``main-shared``. ``peak_rss_mib`` is each variant's peak resident
memory (the shared variant holds one copy of the base instead of two).

Run: ``python benchmarks/bench_main_job_step.py [--steps 3] [--rounds 2] [--device cpu]`` (offline; the
embedded model and MiniLM must be installed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

VARIANTS = ("main", "main-shared", "trl")
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "quality_creativity.yaml"


class _StepTimer:
    """A ``TrainerCallback`` that records the wall-clock seconds of every optimiser step."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        timer = self

        class Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                timer._t0 = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                timer.seconds.append(time.perf_counter() - timer._t0)

        self.seconds: list[float] = []
        self._t0 = 0.0
        self.callback = Callback()


def _main_job_trainer(cfg: Any, run_dir: Path, shared: bool) -> Any:
    from aigc_rl.agents.trl.trainer import build_trainer
    from aigc_rl.models import load_causal_lm
    from aigc_rl.rewards.quality import Fluency
    from aigc_rl.train import make_reward, make_text_task

    reward = make_reward(cfg)
    model, tokenizer = load_causal_lm(cfg.model, device=cfg.device)
    task = make_text_task(cfg, tokenizer, "train", reward)
    trainer = build_trainer(cfg, task, model, tokenizer, run_dir, use_cuda=cfg.device.startswith("cuda"))
    if shared:
        for component, _ in reward.components:
            if isinstance(component, Fluency):
                component.share_policy_base(trainer.model, tokenizer)
    return trainer


_WORD = re.compile(r"\w+|[^\w\s]")


def _plain_trl_trainer(cfg: Any, run_dir: Path) -> Any:
    """``trl.GRPOTrainer`` configured by hand as the main job is, with a hand-written reward function."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from aigc_rl.models import resolve_model
    from aigc_rl.prompts import load_prompts
    from aigc_rl.rewards.quality import default_embedding_model

    cuda = cfg.device.startswith("cuda")
    dtype = torch.bfloat16 if cuda else torch.float32
    path = resolve_model(cfg.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    policy = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(cfg.device)
    ref = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(cfg.device).eval().requires_grad_(False)
    embedder = SentenceTransformer(default_embedding_model(), device=cfg.device)
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id

    @torch.no_grad()
    def fluency(texts: list[str]) -> list[float]:
        ids = [tokenizer(t, add_special_tokens=False)["input_ids"][:256] for t in texts]
        out = [-float(torch.log(torch.tensor(float(len(tokenizer)))))] * len(texts)
        todo = [i for i, x in enumerate(ids) if x]
        if not todo:
            return out
        seqs = [torch.tensor([start, *ids[i]]) for i in todo]
        input_ids = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=start).to(
            cfg.device
        )
        mask = torch.nn.utils.rnn.pad_sequence([torch.ones_like(s) for s in seqs], batch_first=True)
        mask = mask.to(cfg.device)
        logp = torch.log_softmax(ref(input_ids=input_ids, attention_mask=mask).logits[:, :-1].float(), -1)
        logp = logp.gather(-1, input_ids[:, 1:, None]).squeeze(-1)
        m = mask[:, 1:].float()
        for r, i in enumerate(todo):
            out[i] = float((logp[r] * m[r]).sum() / m[r].sum())
        return out

    def distinct2(texts: list[str], groups: list[str]) -> list[float]:
        grams = [list(zip(w, w[1:], strict=False)) for w in (_WORD.findall(t.lower()) for t in texts)]
        counts: dict[str, Counter] = {}
        for g, key in zip(grams, groups, strict=True):
            counts.setdefault(key, Counter()).update(set(g))
        return [
            sum(1 for x in set(g) if counts[key][x] == 1) / len(g) if g else 0.0
            for g, key in zip(grams, groups, strict=True)
        ]

    def reward(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        texts = [c[-1]["content"] for c in completions]
        asks = [p[-1]["content"] for p in prompts]
        uniq = list(dict.fromkeys(asks))
        emb = embedder.encode(uniq + texts, normalize_embeddings=True, convert_to_numpy=True)
        where = {p: i for i, p in enumerate(uniq)}
        rel = [
            0.0 if not t.strip() else float(emb[where[p]] @ emb[len(uniq) + k])
            for k, (p, t) in enumerate(zip(asks, texts, strict=True))
        ]
        flu = fluency(texts)
        div = distinct2(texts, asks)
        return [r + 0.1 * f + 0.5 * d for r, f, d in zip(rel, flu, div, strict=True)]

    rows = load_prompts(cfg.task, "train")
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}]} for r in rows])
    args = GRPOConfig(
        output_dir=str(run_dir / "checkpoints"),
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.prompts_per_step * cfg.num_generations,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_new_tokens,
        temperature=cfg.temperature,
        beta=cfg.beta,
        max_steps=cfg.max_steps,
        logging_steps=cfg.logging_steps,
        save_steps=10**9,
        seed=cfg.seed,
        report_to="none",
        bf16=cuda,
        use_cpu=not cuda,
        lr_scheduler_type="constant",
        log_completions=False,
        gradient_checkpointing=False,
    )
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0, target_modules="all-linear")
    return GRPOTrainer(
        model=policy,
        reward_funcs=reward,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora,
    )


def worker(variant: str, steps: int, device: str) -> dict[str, Any]:
    """Build ``variant``'s trainer, train ``steps + 1`` steps; seconds of every step and peak RSS."""
    from aigc_rl.config import TrainConfig

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        cfg = TrainConfig.from_yaml(
            CONFIG, max_steps=steps + 1, save_steps=10**9, device=device, output_dir=str(run_dir)
        )
        if variant == "trl":
            trainer = _plain_trl_trainer(cfg, run_dir)
        else:
            trainer = _main_job_trainer(cfg, run_dir, shared=variant == "main-shared")
        timer = _StepTimer()
        trainer.add_callback(timer.callback)
        trainer.train()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return {"variant": variant, "seconds": timer.seconds, "peak_rss_mib": round(rss, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=3, help="timed steps per process (after one warm-up step)")
    ap.add_argument("--rounds", type=int, default=2, help="processes per variant, interleaved")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated subset of " + ",".join(VARIANTS)
    )
    ap.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.steps, a.device)))
        return
    variants = [v for v in a.variants.split(",") if v]
    times: dict[str, list[float]] = {v: [] for v in variants}
    rss: dict[str, float] = {v: 0.0 for v in variants}
    for r in range(a.rounds):
        for v in variants if r % 2 == 0 else variants[::-1]:
            cmd = [sys.executable, __file__, "--worker", v, "--steps", str(a.steps), "--device", a.device]
            proc = subprocess.run(
                cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
            )
            if proc.returncode != 0:
                sys.exit(f"{v} failed:\n{proc.stderr[-4000:]}")
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            times[v] += res["seconds"][1:]  # the first step loads the reward models: warm-up
            rss[v] = max(rss[v], res["peak_rss_mib"])
    per_step = {v: statistics.median(t) for v, t in times.items()}
    out: dict[str, Any] = {
        "steps": a.steps,
        "rounds": a.rounds,
        "seconds_per_step": {v: round(s, 3) for v, s in per_step.items()},
        "all_seconds": {v: [round(s, 3) for s in t] for v, t in times.items()},
        "peak_rss_mib": rss,
        "device": a.device,
        "threads": int(os.environ.get("OMP_NUM_THREADS", "0")) or os.cpu_count(),
    }
    if "trl" in per_step:
        if "main" in per_step:
            out["ratio"] = round(per_step["main"] / per_step["trl"], 3)
        if "main-shared" in per_step:
            out["ratio_shared"] = round(per_step["main-shared"] / per_step["trl"], 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
