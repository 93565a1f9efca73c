"""The main job: train a text policy with a TRL agent on a :class:`TextTask`, or dispatch an image run."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from .config import ConfigError, TrainConfig
from .errors import RunDirError

__all__ = ["run_train", "prepare_run_dir", "RunDirError", "is_main_process"]

RUN_MARKERS = ("config.yaml", "metrics.jsonl", "checkpoints", "adapter", "policy")


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a torchrun / accelerate launch."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0


def prepare_run_dir(cfg: TrainConfig) -> Path:
    """Create or check the run directory.

    Raises:
        RunDirError: it holds a run and neither ``resume`` nor ``overwrite`` is set, or ``resume`` is set and
            there is no run to resume.
    """
    run_dir = cfg.resolved_output_dir()
    holds_run = run_dir.exists() and any((run_dir / m).exists() for m in RUN_MARKERS)
    if not is_main_process():
        return run_dir
    if holds_run and not (cfg.resume or cfg.overwrite):
        raise RunDirError(
            f"{run_dir} already holds a run; pass --resume to continue it, --overwrite to replace it, or choose "
            "another --output-dir"
        )
    if cfg.resume and not holds_run:
        raise RunDirError(f"--resume: {run_dir} holds no run to resume")
    if cfg.overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _last_checkpoint(run_dir: Path) -> str | None:
    ckpts = sorted((run_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(ckpts[-1]) if ckpts else None


def make_reward(cfg: TrainConfig) -> Any:
    """The run's composite reward; the fluency reward's reference LM is the run's own base model (a frozen copy)."""
    from aigc_rl.rewards.composite import make_composite, parse_spec

    names = [n for n, _ in parse_spec(cfg.reward)]
    kwargs = {"fluency": {"model": cfg.model}} if "fluency" in names else {}
    return make_composite(cfg.reward, normalize=cfg.normalize, reward_kwargs=kwargs)


def make_text_task(cfg: TrainConfig, tokenizer: Any, split: str, reward: Any) -> Any:
    """The run's :class:`~aigc_rl.envs.text.completion.TextTask` for ``split`` ("train" or "eval")."""
    from aigc_rl.task import TextTask

    return TextTask(
        task=cfg.task,
        prompts=cfg.prompts,
        split=split,
        reward=reward,
        tokenizer=tokenizer,
        max_prompt_tokens=cfg.max_prompt_tokens,
        max_new_tokens=cfg.max_new_tokens,
    )


def run_train(cfg: TrainConfig) -> Path:
    """Run one training job and return its run directory.

    Text runs write ``config.yaml``, ``metrics.jsonl``, ``checkpoints/``, ``adapter/`` (LoRA adapter,
    safetensors, loadable with transformers + peft) and ``train_summary.json``.

    Raises:
        RunDirError, ConfigError, ModelNotFoundError, PromptFileError, UnknownRewardError: bad input, before any
            training starts.
    """
    if cfg.kind == "image":
        from aigc_rl.agents.sb3.latent import train_latent

        return train_latent(cfg)

    import torch
    from transformers import set_seed

    from aigc_rl.models import load_causal_lm

    # Build everything that can fail on bad input before touching the run directory.
    reward = make_reward(cfg)
    from aigc_rl.prompts import load_prompts

    load_prompts(cfg.prompts or cfg.task, "train")
    from aigc_rl.models import resolve_model

    resolve_model(cfg.model)  # a missing model fails here, before the run directory is touched
    run_dir = prepare_run_dir(cfg)
    resume_from = _last_checkpoint(run_dir) if cfg.resume else None
    if cfg.resume and resume_from is None:
        raise RunDirError(f"--resume: {run_dir} has no checkpoint yet (checkpoints/checkpoint-N)")

    use_cuda = cfg.device.startswith("cuda") or (cfg.device == "auto" and torch.cuda.is_available())
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but torch sees no GPU; use --device cpu or auto")
    set_seed(cfg.seed)
    if is_main_process():
        cfg.save(run_dir / "config.yaml")
    model, tokenizer = load_causal_lm(cfg.model, device="cuda" if use_cuda else "cpu")
    task = make_text_task(cfg, tokenizer, "train", reward)
    from aigc_rl.agents.trl.trainer import build_trainer

    trainer = build_trainer(cfg, task, model, tokenizer, run_dir, use_cuda)
    t0 = time.time()
    trainer.train(resume_from_checkpoint=resume_from)
    elapsed = time.time() - t0
    if trainer.is_world_process_zero():
        adapter_dir = run_dir / "adapter"
        trainer.model.save_pretrained(adapter_dir, safe_serialization=True)
        tokenizer.save_pretrained(adapter_dir)
        steps = trainer.state.global_step
        summary = {
            "global_step": steps,
            "train_seconds": round(elapsed, 2),
            "steps_per_second": round(steps / elapsed, 4) if elapsed > 0 else None,
            "device": "cuda" if use_cuda else "cpu",
            "world_size": trainer.accelerator.num_processes,
            "resumed_from": resume_from,
        }
        (run_dir / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return run_dir
