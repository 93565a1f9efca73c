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

from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from aigc_rl.chat import messages_for
from aigc_rl.progress import progress_enabled
from aigc_rl.rewards import CompositeReward, RewardModel
from aigc_rl.run import MetricsWriter, atomic_write_json, mark_complete
from aigc_rl.tracking import TB_DIR

from .merged import merge_for_generation

if TYPE_CHECKING:
    from trl import GRPOTrainer, RLOOTrainer

__all__ = [
    "build_dataset",
    "reward_funcs_for",
    "build_trainer",
    "MetricsLogger",
    "CheckpointMarker",
    "StopFlag",
    "AdaptiveKLController",
    "report_to_for",
    "lora_config",
    "shared_trainer_args",
    "use_run_tb_dir",
]


def build_dataset(task: Any):
    """A ``datasets.Dataset`` of conversational prompts (``{"prompt": [messages]}`` + the task's columns).

    The user content is the length-limited one (case C4, huggingface/trl#3644), so TRL never has to truncate a templated prompt.
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
    """TRL ``reward_funcs`` and ``reward_weights`` for an aigc-rl reward (the same objects, not copies).

    A weighted-sum composite without normalisation goes to TRL as its components and weights (so TRL's
    ``multi_objective_aggregation`` applies to them); any other reward (normalised, or composed as DARLING's
    product) goes whole.
    """
    if (
        isinstance(reward, CompositeReward)
        and reward.composition == "sum"
        and all(v == "none" for v in reward.normalize.values())
    ):
        return [r for r, _ in reward.components], [w for _, w in reward.components]
    return [reward], None


class MetricsLogger(TrainerCallback):
    """Appends every Trainer log (reward, each component, KL, completion length, loss ...) to ``metrics.jsonl``.

    One strict-JSON object per logging step, with ``step``, through :class:`~aigc_rl.run.MetricsWriter` (each
    line flushed and fsynced, so an interrupted run keeps everything logged so far; a non-finite value is
    written as ``null``). Only the main process writes.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.writer = MetricsWriter(self.path)

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: D401 (TrainerCallback API)
        if not state.is_world_process_zero or not logs or "train_runtime" in logs:
            return  # the end-of-training summary goes to train_summary.json, not to the per-step log
        rec: dict[str, Any] = {"step": int(state.global_step)}
        rec.update({k: v for k, v in logs.items() if isinstance(v, (int, float, str))})
        self.writer.write(rec)


class CheckpointMarker(TrainerCallback):
    """Marks each ``checkpoint-N`` complete (:func:`aigc_rl.run.mark_complete`) once the Trainer has saved it.

    ``on_save`` runs after the Trainer wrote every file of the checkpoint (weights, optimizer, scheduler, RNG
    states, ``trainer_state.json``); a kill before that leaves the directory unmarked, and ``--resume`` skips it.
    """

    def on_save(self, args, state, control, **kwargs):  # noqa: D401 (TrainerCallback API)
        if state.is_world_process_zero:
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if ckpt.is_dir():
                mark_complete(ckpt)


class StopFlag(TrainerCallback):
    """Graceful stop: once :attr:`requested` is set (by a signal handler), the current step finishes, a
    checkpoint is saved, and training stops.

    Attributes:
        requested: The signal number that asked to stop, or ``None``.
    """

    def __init__(self) -> None:
        self.requested: int | None = None

    def on_step_end(self, args, state, control, **kwargs):  # noqa: D401 (TrainerCallback API)
        if self.requested is not None:
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_save(self, args, state, control, **kwargs):  # a signal that arrived while saving
        if self.requested is not None:
            control.should_training_stop = True
        return control


class AdaptiveKLController(TrainerCallback):
    """Adaptive KL penalty (Ziegler et al. 2019, "Fine-Tuning Language Models from Human Preferences", 2.2):
    after each logged step, ``beta <- beta * (1 + K * e * n)`` with ``e = clip(KL / KL_target - 1, -0.2, 0.2)``,
    ``K = 0.1`` and ``n`` the optimiser steps since the last update, so that the KL to the reference (TRL's
    logged ``kl``, nats per token) is steered toward ``target``.

    TRL's GRPO and RLOO trainers read ``trainer.beta`` in every loss computation; the controller sets it. The
    current beta is logged as ``beta`` in ``metrics.jsonl`` and saved in each checkpoint as
    ``adaptive_kl.json``, from which ``--resume`` restores it.

    Args:
        trainer: The TRL trainer (its ``beta`` must start above 0: with 0 TRL loads no reference model).
        target: Target KL, nats per token, > 0.
        rate: ``K``, the proportional gain (Ziegler et al. use 0.1).

    Raises:
        ValueError: ``target`` or ``rate`` not positive, or the trainer's beta is 0.
    """

    STATE_FILE = "adaptive_kl.json"
    CLIP = 0.2

    def __init__(self, trainer: Any, target: float, rate: float = 0.1) -> None:
        if not target > 0 or not rate > 0:
            raise ValueError(f"adaptive KL needs target > 0 and rate > 0, got {target} and {rate}")
        if not getattr(trainer, "beta", 0.0) > 0:
            raise ValueError("adaptive KL needs the trainer's beta > 0 (beta 0 loads no reference model)")
        self.trainer, self.target, self.rate = trainer, float(target), float(rate)
        self.last_step = 0

    def update(self, kl: float, n_steps: int = 1) -> float:
        """Apply one update from the measured ``kl`` over ``n_steps`` optimiser steps; returns the new beta."""
        err = min(max(kl / self.target - 1.0, -self.CLIP), self.CLIP)
        self.trainer.beta = float(self.trainer.beta) * (1.0 + self.rate * err * max(1, n_steps))
        return self.trainer.beta

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: D401 (TrainerCallback API)
        if not logs or "kl" not in logs or "train_runtime" in logs:
            return
        kl = logs["kl"]
        if isinstance(kl, (int, float)) and kl == kl:  # not NaN
            self.update(float(kl), int(state.global_step) - self.last_step)
        self.last_step = int(state.global_step)
        logs["beta"] = self.trainer.beta  # the beta of the coming steps

    def on_save(self, args, state, control, **kwargs):  # noqa: D401 (TrainerCallback API)
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if ckpt.is_dir() and state.is_world_process_zero:
            atomic_write_json(ckpt / self.STATE_FILE, {"beta": self.trainer.beta, "step": state.global_step})

    def restore(self, checkpoint: str | Path | None) -> None:
        """Take beta from a checkpoint's ``adaptive_kl.json`` (left as it is when the file is absent)."""
        import json

        if checkpoint is None:
            return
        f = Path(checkpoint) / self.STATE_FILE
        if f.is_file():
            data = json.loads(f.read_text(encoding="utf-8"))
            beta = data.get("beta") if isinstance(data, dict) else None
            if isinstance(beta, (int, float)) and beta > 0:
                self.trainer.beta = float(beta)
                self.last_step = int(data.get("step", 0))


def lora_config(cfg: Any) -> Any:
    """The LoRA adapter every aigc-rl text run trains (RL and SFT): rank ``cfg.lora_r``, alpha
    ``cfg.lora_alpha``, no dropout, on every linear layer (peft's ``"all-linear"``)."""
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def shared_trainer_args(cfg: Any, run_dir: Path, use_cuda: bool) -> dict[str, Any]:
    """The TRL config fields RL (``GRPOConfig``/``RLOOConfig``) and SFT (``SFTConfig``) runs set alike from
    ``cfg``: checkpoints in ``run_dir/checkpoints`` (the newest two kept), a constant learning rate without
    warm-up, bf16 on the GPU, the trackers of ``--report-to``, TRL's progress bar unless ``--quiet``."""
    return dict(
        output_dir=str(run_dir / "checkpoints"),
        learning_rate=cfg.learning_rate,
        gradient_accumulation_steps=1,
        max_steps=cfg.max_steps,
        logging_steps=cfg.logging_steps,
        save_steps=cfg.save_steps,
        save_total_limit=2,
        seed=cfg.seed,
        report_to=report_to_for(cfg, run_dir),
        bf16=use_cuda,
        use_cpu=not use_cuda,
        dataloader_num_workers=0,
        lr_scheduler_type="constant",
        warmup_steps=0,
        disable_tqdm=not progress_enabled(),  # --quiet
        # Activation checkpointing trades compute for memory; a 135M-parameter policy needs no such trade.
        gradient_checkpointing=False,
    )


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
        The trainer, with :class:`MetricsLogger`, :class:`CheckpointMarker` and :class:`StopFlag` attached
        (the stop flag is ``trainer.stop_flag``), and the trackers of ``cfg.report_to`` (TensorBoard event files
        in ``run_dir/tb``, see :func:`report_to_for`).
    """
    lora = lora_config(cfg)
    common = dict(
        **shared_trainer_args(cfg, run_dir, use_cuda),
        per_device_train_batch_size=cfg.prompts_per_step * cfg.num_generations,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_new_tokens,
        temperature=cfg.temperature,
        beta=cfg.beta,
        log_completions=False,
    )
    if getattr(cfg, "use_vllm", False):  # rollouts from a vLLM engine on each process's GPU (check_vllm)
        common.update(use_vllm=True, vllm_mode="colocate")
    from aigc_rl.config import GRPO_ONLY, TRL_FIELDS

    for name in TRL_FIELDS:
        if cfg.agent == "grpo" or name not in GRPO_ONLY:
            common[name] = getattr(cfg, name)
    common.update(trl_args)
    funcs, weights = reward_funcs_for(task.reward)
    stop = StopFlag()
    callbacks: list[Any] = [MetricsLogger(run_dir / "metrics.jsonl"), CheckpointMarker(), stop]

    def rest() -> dict[str, Any]:  # the arguments both trainers take, built after the config (as before)
        return dict(
            model=model,
            reward_funcs=funcs,
            train_dataset=build_dataset(task),
            processing_class=tokenizer,
            peft_config=lora,
            callbacks=callbacks,
        )

    trainer: GRPOTrainer | RLOOTrainer
    if cfg.agent == "grpo":
        from trl import GRPOConfig, GRPOTrainer

        trainer = GRPOTrainer(args=GRPOConfig(**common, reward_weights=weights), **rest())
    elif cfg.agent == "rloo":
        from trl import RLOOConfig, RLOOTrainer

        trainer = RLOOTrainer(args=RLOOConfig(**common, reward_weights=weights), **rest())
    else:
        raise ValueError(f"unknown TRL agent {cfg.agent!r}; available: grpo, rloo")
    # aigc-rl's own attribute on TRL's trainer object (documented above), which TRL's classes do not declare.
    trainer.stop_flag = stop  # type: ignore[union-attr]
    if cfg.kl_target is not None:
        # Before the metrics logger (which then logs the new beta) and the checkpoint marker (so that a
        # checkpoint is marked complete only once adaptive_kl.json is in it).
        handler = trainer.callback_handler
        at = next(i for i, c in enumerate(handler.callbacks) if isinstance(c, MetricsLogger))
        handler.callbacks.insert(at, AdaptiveKLController(trainer, cfg.kl_target))
    if not progress_enabled():
        from transformers.trainer_callback import PrinterCallback

        # --quiet: transformers prints each log dict to stdout in place of the progress bar; the metrics are
        # in metrics.jsonl
        trainer.remove_callback(PrinterCallback)
    _epoch_seeded_sampler(trainer)
    use_run_tb_dir(trainer, run_dir)
    if not getattr(cfg, "use_vllm", False):
        # rollouts sampled with the adapter merged into the float32 base (same policy, fewer products per
        # token); restored bit for bit after each call (agents/trl/merged.py)
        merge_for_generation(trainer.model)
    return trainer


def use_run_tb_dir(trainer: Any, run_dir: Path) -> None:
    """Make the trainer's TensorBoard callback (``report_to`` with ``tensorboard``) write to ``run_dir/tb``.

    transformers 5 has no ``TrainingArguments.logging_dir``: the callback's own ``logging_dir`` attribute, read
    when training begins, places the event files in the run directory instead of ``checkpoints/runs/<date>``.
    """
    from transformers.integrations import TensorBoardCallback

    for cb in trainer.callback_handler.callbacks:
        if isinstance(cb, TensorBoardCallback) and cb.tb_writer is None:
            cb.logging_dir = str(run_dir / TB_DIR)


def report_to_for(cfg: Any, run_dir: Path) -> str | list[str]:
    """TRL's ``report_to`` for ``cfg.report_to`` (``"none"``, ``"all"`` or a list of integration names).

    With ``wandb`` the W&B run files go into ``run_dir`` and the project is ``aigc-rl`` unless
    ``WANDB_DIR`` / ``WANDB_PROJECT`` say otherwise (transformers' ``WandbCallback`` reads them).
    """
    import os

    from aigc_rl.tracking import parse_report_to

    names = parse_report_to(getattr(cfg, "report_to", "none"), "text")
    if "wandb" in names or "all" in names:
        os.environ.setdefault("WANDB_DIR", str(run_dir))
        os.environ.setdefault("WANDB_PROJECT", "aigc-rl")
    if not names:
        return "none"
    return "all" if names == ["all"] else names


def _epoch_seeded_sampler(trainer: Any) -> None:
    """Make the prompt order of epoch ``e`` a function of ``(seed, e)`` alone, so that a resumed run sees the
    same prompts as an uninterrupted one.

    TRL's ``RepeatSampler`` shuffles with one generator seeded once: epoch ``e`` takes its ``e``-th
    permutation. A resumed run builds a fresh sampler and would take the first permutation again in a later
    epoch. Here ``set_epoch(e)`` (called by the Trainer before each epoch) re-seeds the generator and draws
    the ``e`` permutations before it, giving the same order as the uninterrupted run (bit-identical for a run
    that is never resumed).
    """
    import torch

    make_sampler = trainer._get_train_sampler

    def sampler_fn(*args: Any, **kwargs: Any) -> Any:
        sampler = make_sampler(*args, **kwargs)
        gen, seed = getattr(sampler, "generator", None), getattr(sampler, "seed", None)
        if not isinstance(gen, torch.Generator) or seed is None or hasattr(sampler, "set_epoch"):
            return sampler

        def set_epoch(epoch: int) -> None:
            gen.manual_seed(seed)
            for _ in range(int(epoch)):
                torch.randperm(sampler.num_samples, generator=gen)

        sampler.set_epoch = set_epoch
        return sampler

    trainer._get_train_sampler = sampler_fn
