"""TRL agents (GRPO, RLOO) with a LoRA adapter, built from a :class:`~aigc_rl.task.TextTask`.

The trainer is fed the task's prompts and the task's reward object itself: a
:class:`~aigc_rl.rewards.CompositeReward` without normalisation is passed as its components with
``reward_weights`` (TRL then logs ``rewards/<component>/mean`` for each); a normalised composite is passed
whole and logs its components through TRL's ``log_metric``.

Algorithms: GRPO (Shao et al. 2024, DeepSeekMath, arXiv:2402.03300) and RLOO (Ahmadian et al. 2024, arXiv:2402.14740),
as implemented by TRL; the KL penalty to the frozen reference (the base model with the adapter disabled) is
TRL's k3 estimator, weighted by ``beta``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from aigc_rl.chat import messages_for
from aigc_rl.rewards import CompositeReward, RewardModel

__all__ = ["build_dataset", "reward_funcs_for", "build_trainer", "MetricsLogger"]


def build_dataset(task: Any):
    """A ``datasets.Dataset`` of conversational prompts (``{"prompt": [messages]}`` + the task's columns).

    The user content is the length-limited one (case C4), so TRL never has to truncate a templated prompt.
    """
    from datasets import Dataset

    rows = []
    for i, row in enumerate(task.rows):
        content = task.encode(i)[1]
        item = {k: v for k, v in row.items() if k not in ("prompt", "split")}
        item["prompt"] = messages_for(content, task.system)
        rows.append(item)
    return Dataset.from_list(rows)


def reward_funcs_for(reward: RewardModel) -> tuple[list[RewardModel], list[float] | None]:
    """TRL ``reward_funcs`` and ``reward_weights`` for an aigc-rl reward (the same objects, not copies)."""
    if isinstance(reward, CompositeReward) and all(v == "none" for v in reward.normalize.values()):
        return [r for r, _ in reward.components], [w for _, w in reward.components]
    return [reward], None


class MetricsLogger(TrainerCallback):
    """Appends every Trainer log (reward, each component, KL, completion length, loss ...) to ``metrics.jsonl``.

    One JSON object per logging step, with ``step``; each line is flushed and fsynced so that an interrupted run
    keeps everything logged so far. Only the main process writes.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: D401 (TrainerCallback API)
        if not state.is_world_process_zero or not logs or "train_runtime" in logs:
            return  # the end-of-training summary goes to train_summary.json, not to the per-step log
        rec = {"step": int(state.global_step)}
        rec.update({k: v for k, v in logs.items() if isinstance(v, (int, float, str))})
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())


def build_trainer(
    cfg: Any, task: Any, model: Any, tokenizer: Any, run_dir: Path, use_cuda: bool, **trl_args: Any
) -> Any:
    """Build a TRL ``GRPOTrainer`` or ``RLOOTrainer`` with a LoRA adapter on ``model``.

    Args:
        cfg: :class:`~aigc_rl.config.TrainConfig`.
        task: The :class:`TextTask` (prompts + reward object).
        model: The policy (a ``PreTrainedModel``; the adapter is added by TRL through ``peft_config``).
        tokenizer: Its tokenizer.
        run_dir: Run directory; checkpoints go to ``run_dir/checkpoints``.
        use_cuda: Train on the GPU in bf16.
        **trl_args: Any other ``GRPOConfig`` / ``RLOOConfig`` field (e.g. ``gradient_accumulation_steps``,
            ``optim``, ``use_vllm``), overriding the values derived from ``cfg``.

    Returns:
        The trainer, with :class:`MetricsLogger` attached.
    """
    from peft import LoraConfig

    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    common = dict(
        output_dir=str(run_dir / "checkpoints"),
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.prompts_per_step * cfg.num_generations,
        gradient_accumulation_steps=1,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_new_tokens,
        temperature=cfg.temperature,
        beta=cfg.beta,
        max_steps=cfg.max_steps,
        logging_steps=cfg.logging_steps,
        save_steps=cfg.save_steps,
        save_total_limit=2,
        seed=cfg.seed,
        report_to="none",
        bf16=use_cuda,
        use_cpu=not use_cuda,
        dataloader_num_workers=0,
        lr_scheduler_type="constant",
        warmup_steps=0,
        disable_tqdm=False,
        log_completions=False,
        # Activation checkpointing trades compute for memory; a 135M-parameter policy needs no such trade.
        gradient_checkpointing=False,
    )
    common.update(trl_args)
    funcs, weights = reward_funcs_for(task.reward)
    if cfg.agent == "grpo":
        from trl import GRPOConfig, GRPOTrainer

        args = GRPOConfig(**common, reward_weights=weights)
        trainer_cls = GRPOTrainer
    elif cfg.agent == "rloo":
        from trl import RLOOConfig, RLOOTrainer

        args = RLOOConfig(**common, reward_weights=weights)
        trainer_cls = RLOOTrainer
    else:
        raise ValueError(f"unknown TRL agent {cfg.agent!r}; available: grpo, rloo")
    return trainer_cls(
        model=model,
        reward_funcs=funcs,
        args=args,
        train_dataset=build_dataset(task),
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[MetricsLogger(run_dir / "metrics.jsonl")],
    )
