"""The main job: train a text policy with a TRL agent on a :class:`TextTask`, or dispatch an image run.

A text run lives in a :class:`~aigc_rl.run.RunDir`: its lock is held for the whole training, ``run.json``
records the run (status ``running`` -> ``finished`` | ``interrupted``), ``metrics.jsonl`` holds each step
once, and every ``checkpoints/checkpoint-N`` is marked complete once saved. ``--resume`` continues from the
newest complete checkpoint with the run's own recorded config (see :data:`aigc_rl.config.RESUME_SAFE`).

Signals: the first SIGINT or SIGTERM lets the current step finish, saves a checkpoint and stops
(:class:`TrainingInterrupted`, exit status 130 / 143 on the command line); a second one aborts at once
(checkpoints already complete are kept).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .config import ConfigError, TrainConfig, recorded_config
from .errors import PromptFileError, RunDirError, UserFileError
from .run import (
    RunDir,
    TrainingInterrupted,
    atomic_write_json,
    is_complete,
    latest_complete_checkpoint,
    run_record,
)

__all__ = [
    "run_train",
    "prepare_run_dir",
    "RunDirError",
    "TrainingInterrupted",
    "is_main_process",
    "check_model_limits",
    "resume_checkpoint",
    "share_reference_model",
]


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a torchrun / accelerate launch."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0


_HELD: dict[Path, RunDir] = {}


def prepare_run_dir(cfg: TrainConfig) -> Path:
    """Create or check the run directory for code that drives a trainer itself (see ``examples/``).

    Applies :meth:`aigc_rl.run.RunDir.prepare` (the lock is then held until the process exits) and writes a
    run record for a new run.

    Raises:
        RunDirError: it holds a run and neither ``resume`` nor ``overwrite`` is set, ``resume`` is set and
            there is no run to resume, or ``overwrite`` names a directory of files that is not a run.
        RunLockedError: another process holds the run.
    """
    rd = RunDir(cfg.resolved_output_dir())
    if not is_main_process():
        rd.path.mkdir(parents=True, exist_ok=True)
        return rd.path
    rd.prepare(resume=cfg.resume, overwrite=cfg.overwrite)
    _HELD[rd.path] = rd
    if not cfg.resume or not rd.record_path.is_file():
        rd.write_record(run_record(kind=cfg.kind, config=cfg.to_dict()))
    return rd.path


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
        return True
    except ValueError:
        return False


def refuse_inputs_inside(run_dir: Path, inputs: Sequence[str | Path | None]) -> None:
    """``--overwrite``: refuse when an input file (``--prompts``, ``--config``) lies in the directory.

    Raises:
        RunDirError: naming the file and the fix.
    """
    for p in inputs:
        if p and Path(p).exists() and _inside(Path(p), run_dir):
            raise RunDirError(
                f"--overwrite: {p} lies inside {run_dir}, the directory being overwritten; nothing was deleted. "
                "Move the file out of it or choose another --output-dir"
            )


def check_model_limits(cfg: TrainConfig, model_path: str) -> int | None:
    """Check the token lengths against the model's context without loading its weights.

    Args:
        cfg: The run config.
        model_path: :func:`aigc_rl.models.resolve_model` of ``cfg.model``.

    Returns:
        The model's context length (``max_position_embeddings``), or ``None`` when its config gives none.

    Raises:
        ConfigError: ``max_prompt_tokens + max_new_tokens`` exceeds the context (names both flags).
        UserFileError: the model's ``config.json`` cannot be read.
    """
    from transformers import AutoConfig

    try:
        mcfg = AutoConfig.from_pretrained(model_path)
    except (OSError, ValueError) as e:
        where = Path(model_path) / "config.json" if Path(model_path).is_dir() else model_path
        raise UserFileError(f"{where}: cannot read the model config ({' '.join(str(e).split())})") from None
    ctx = None
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        v = getattr(mcfg, attr, None)
        if isinstance(v, int) and v > 0:
            ctx = v
            break
    if ctx is not None and cfg.max_prompt_tokens + cfg.max_new_tokens > ctx:
        raise ConfigError(
            f"max_prompt_tokens + max_new_tokens = {cfg.max_prompt_tokens} + {cfg.max_new_tokens} exceeds the "
            f"context of {cfg.model} ({ctx} tokens); lower --max-new-tokens or --max-prompt-tokens"
        )
    return ctx


def _check_prompt_count(cfg: TrainConfig, rows: Sequence[Any]) -> None:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    need = cfg.prompts_per_step * world
    if len(rows) < need:
        src = cfg.prompts or f"task {cfg.task!r}"
        raise PromptFileError(
            f"{src}: {len(rows)} training prompt(s), but one step needs {need} (--prompts-per-step "
            f"{cfg.prompts_per_step}{f' x {world} processes' if world > 1 else ''}); add prompts or lower "
            "--prompts-per-step"
        )


def _step_of(ckpt: Path) -> int:
    return int(ckpt.name.rsplit("-", 1)[-1])


def resume_checkpoint(rd: RunDir, legacy: bool = False) -> Path | None:
    """The checkpoint ``--resume`` continues from: the newest complete one (``None``: start from step 0).

    A 0.1.0 run (``legacy``) has no completion markers; its newest checkpoint holding a readable
    ``trainer_state.json`` is taken.
    """
    ckpt = latest_complete_checkpoint(rd.checkpoints_dir)
    if ckpt is None and legacy and rd.checkpoints_dir.is_dir():
        for c in sorted(rd.checkpoints_dir.glob("checkpoint-*"), key=_safe_step, reverse=True):
            try:
                json.loads((c / "trainer_state.json").read_text(encoding="utf-8"))
                return c
            except (OSError, ValueError):
                continue
    return ckpt


def _safe_step(p: Path) -> int:
    try:
        return _step_of(p)
    except ValueError:
        return -1


def _drop_incomplete_checkpoints(rd: RunDir, after: int) -> None:
    """Remove ``checkpoint-N`` (N > ``after``) left unmarked by a kill mid-save; aigc-rl wrote them."""
    if not rd.checkpoints_dir.is_dir():
        return
    for c in rd.checkpoints_dir.glob("checkpoint-*"):
        if c.is_dir() and not c.is_symlink() and _safe_step(c) > after and not is_complete(c):
            shutil.rmtree(c)


@contextmanager
def _graceful_signals(stop_flag: Any) -> Iterator[None]:
    """First SIGINT/SIGTERM: set ``stop_flag.requested`` (finish the step, save, stop); second: abort."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop_flag.requested is None:
            stop_flag.requested = signum
            print(
                f"aigc-rl train: {signal.Signals(signum).name}: finishing this step and saving a checkpoint; "
                "send it again to abort now",
                file=sys.stderr,
                flush=True,
            )
        else:
            raise KeyboardInterrupt

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def make_reward(cfg: TrainConfig) -> Any:
    """The run's composite reward; the fluency reward's reference LM is the run's own base model (shared with the
    policy by :func:`share_reference_model` once the policy is built)."""
    from aigc_rl.rewards.composite import make_composite, parse_spec

    names = [n for n, _ in parse_spec(cfg.reward)]
    kwargs = {"fluency": {"model": cfg.model}} if "fluency" in names else {}
    return make_composite(cfg.reward, normalize=cfg.normalize, reward_kwargs=kwargs)


def share_reference_model(cfg: TrainConfig, reward: Any, policy: Any, tokenizer: Any) -> bool:
    """Let the run's fluency reward score with ``policy``'s base model (its LoRA adapter disabled).

    The fluency reference of a run is the run's own base model, which the PEFT policy already holds: sharing it
    saves a second copy of the model (about 540 MB for SmolLM2) and its load, with values equal bit for bit
    (see :meth:`aigc_rl.rewards.quality.Fluency.share_policy_base`). Nothing is shared when the policy sits on
    another device type than the copy fluency would load (its values would differ).

    Args:
        cfg: The run's config.
        reward: The run's reward (a composite or one reward).
        policy: The PEFT policy (the trainer's model, or the evaluated adapter on its base).
        tokenizer: The policy's tokenizer.

    Returns:
        True when a fluency component now shares the policy's base.
    """
    from aigc_rl.rewards.quality import Fluency

    shared = False
    for component, _ in getattr(reward, "components", None) or [(reward, 1.0)]:
        if isinstance(component, Fluency) and component.model_spec == cfg.model:
            try:
                component.share_policy_base(policy, tokenizer)
                shared = True
            except ValueError:  # another device type, or not a PEFT model: it keeps its own copy
                pass
    return shared


def make_text_task(cfg: TrainConfig, tokenizer: Any, split: str, reward: Any) -> Any:
    """The run's :class:`~aigc_rl.task.TextTask` for ``split`` ("train" or "eval")."""
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


def run_train(cfg: TrainConfig, *, inputs: Sequence[str | Path | None] = ()) -> Path:
    """Run one training job and return its run directory.

    Text runs write ``run.json``, ``config.yaml``, ``metrics.jsonl``, ``checkpoints/``, ``adapter/`` (LoRA
    adapter, safetensors, loadable with transformers + peft) and ``train_summary.json``.

    Args:
        cfg: The run config. With ``resume`` it must equal the run's recorded config except for
            :data:`aigc_rl.config.RESUME_SAFE` fields (the command line builds it from the record).
        inputs: Other input files of the command (``--config``), protected like ``cfg.prompts`` from
            ``overwrite``.

    Raises:
        RunDirError, RunLockedError, ConfigError, ModelNotFoundError, PromptFileError, UnknownRewardError,
            UserFileError: bad input, before the run directory is touched.
        TrainingInterrupted: a signal stopped training (status ``interrupted`` in ``run.json``).
    """
    run_dir = cfg.resolved_output_dir()
    recorded = None
    if cfg.resume:
        recorded = recorded_config(run_dir)
        if recorded is None:
            raise RunDirError(f"--resume: {run_dir} holds no run to resume")
        cfg.check_resume(recorded)
    if cfg.overwrite:
        refuse_inputs_inside(run_dir, [cfg.prompts, *inputs])
    if cfg.kind == "image":
        from aigc_rl.agents.sb3.latent import train_latent

        return train_latent(cfg)

    import torch

    from aigc_rl.models import check_model_files, resolve_model
    from aigc_rl.prompts import load_prompts

    # Build everything that can fail on bad input before touching the run directory.
    reward = make_reward(cfg)
    _check_prompt_count(cfg, load_prompts(cfg.prompts or cfg.task, "train"))
    model_path = resolve_model(cfg.model)  # a missing model fails here
    check_model_files(model_path)  # a truncated safetensors file or a broken tokenizer too
    check_model_limits(cfg, model_path)
    use_cuda = cfg.device.startswith("cuda") or (cfg.device == "auto" and torch.cuda.is_available())
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but torch sees no GPU; use --device cpu or auto")

    from aigc_rl.agents.trl.trainer import StopFlag

    rd = RunDir(run_dir)
    main = is_main_process()
    if main:
        rd.prepare(resume=cfg.resume, overwrite=cfg.overwrite)
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
    stop = StopFlag()  # set by the first SIGINT/SIGTERM from here on
    try:
        with _graceful_signals(stop):
            _train_text(cfg, rd, main, reward, use_cuda, stop)
    except KeyboardInterrupt:
        ckpt = latest_complete_checkpoint(rd.checkpoints_dir)
        step = _step_of(ckpt) if ckpt is not None else 0
        if main and rd.record_path.is_file():
            rd.update_record(status="interrupted", global_step=step)
        raise TrainingInterrupted(run_dir, step, stop.requested or signal.SIGINT) from None
    finally:
        rd.release()
    return run_dir


def _train_text(cfg: TrainConfig, rd: RunDir, main: bool, reward: Any, use_cuda: bool, stop: Any) -> None:
    """The text training proper, inside the run's lock and the signal handlers of :func:`run_train`.

    Raises:
        KeyboardInterrupt: a signal stopped it (after a final checkpoint when it was the first signal).
    """
    from transformers import set_seed

    from aigc_rl.agents.trl.trainer import StopFlag, build_trainer
    from aigc_rl.models import load_causal_lm

    run_dir = rd.path
    resume_from: str | None = None
    if cfg.resume:
        ckpt = resume_checkpoint(rd, legacy=not rd.record_path.is_file())
        start = _step_of(ckpt) if ckpt is not None else 0
        if main:
            _drop_incomplete_checkpoints(rd, start)
            rd.metrics.truncate_after(start)  # the steps after it are trained, and logged, again
        resume_from = str(ckpt) if ckpt is not None else None
    if main:
        if cfg.resume and rd.record_path.is_file():
            rd.update_record(status="running", config=cfg.to_dict(), resumed_from=resume_from)
        else:
            rd.write_record(run_record(kind="text", config=cfg.to_dict(), reward=reward))
    set_seed(cfg.seed)
    if main:
        cfg.save(run_dir / "config.yaml")
    model, tokenizer = load_causal_lm(cfg.model, device="cuda" if use_cuda else "cpu")
    task = make_text_task(cfg, tokenizer, "train", reward)
    trainer = build_trainer(cfg, task, model, tokenizer, run_dir, use_cuda)
    share_reference_model(cfg, reward, trainer.model, tokenizer)  # no second copy of the base for fluency
    trainer.remove_callback(StopFlag)  # the run's own flag, set by a signal that came before training
    trainer.add_callback(stop)
    trainer.stop_flag = stop
    if stop.requested is not None:
        raise KeyboardInterrupt
    t0 = time.time()
    trainer.train(resume_from_checkpoint=resume_from)
    elapsed = time.time() - t0
    if stop.requested is not None and trainer.state.global_step < cfg.max_steps:
        raise KeyboardInterrupt  # stopped early; a signal after the last step lets the run finish
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
        atomic_write_json(run_dir / "train_summary.json", summary)
        rd.update_record(status="finished", global_step=steps)
