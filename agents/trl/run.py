"""The text run backend: TRL GRPO/RLOO with a LoRA adapter, trained and evaluated in a run directory.

:class:`aigc_rl.backends.TextBackend` calls :func:`train_text` and :func:`evaluate_text`; use
:func:`aigc_rl.train.run_train` and :func:`aigc_rl.evaluation.evaluate_run`, which apply what every run kind
shares first (recorded config on ``--resume``, input files inside an overwritten directory, the run lock).

A text run lives in a :class:`~aigc_rl.run.RunDir`: its lock is held for the whole training, ``run.json``
records the run (status ``running`` -> ``finished`` | ``interrupted``), ``metrics.jsonl`` holds each step
once, and every ``checkpoints/checkpoint-N`` is marked complete once saved. ``--resume`` continues from the
newest complete checkpoint with the run's own recorded config (see :data:`aigc_rl.config.RESUME_SAFE`).

Signals: the first SIGINT or SIGTERM lets the current step finish, saves a checkpoint and stops
(:class:`~aigc_rl.run.TrainingInterrupted`, exit status 130 / 143 on the command line); a second one aborts
at once (checkpoints already complete are kept).

Evaluation: base (adapter disabled) and tuned policy sample the same held-out prompts with the same seed;
every metric is first averaged over the samples of one prompt, then summarised over prompts by its mean and a
95% percentile-bootstrap interval (Efron & Tibshirani 1993; 5,000 resamples of prompts, seeded).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np

from aigc_rl.config import ConfigError, TrainConfig, recorded_config
from aigc_rl.errors import PromptFileError, UserFileError
from aigc_rl.rewards._text import ngrams, tokenize
from aigc_rl.rewards.creativity import distinct_n_corpus
from aigc_rl.run import (
    RunDir,
    TrainingInterrupted,
    atomic_write_json,
    atomic_write_text,
    checkpoint_step,
    graceful_signals,
    is_complete,
    json_safe,
    latest_complete_checkpoint,
    run_record,
)
from aigc_rl.stats import bootstrap_ci, eval_stat_key

logger = logging.getLogger(__name__)

__all__ = [
    "train_text",
    "evaluate_text",
    "check_vllm",
    "is_main_process",
    "prepare_run_dir",
    "check_model_limits",
    "resume_checkpoint",
    "make_reward",
    "make_text_task",
    "share_reference_model",
    "summarize",
    "text_run_config",
    "policy_names",
    "is_full_finetune",
    "run_policies",
    "repetition_rate",
    "generate_completions",
    "sample_completions",
    "eos_token_ids",
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


def resume_checkpoint(rd: RunDir, legacy: bool = False) -> Path | None:
    """The checkpoint ``--resume`` continues from: the newest complete one (``None``: start from step 0).

    A 0.1.0 run (``legacy``) has no completion markers; its newest checkpoint holding a readable
    ``trainer_state.json`` is taken.
    """
    ckpt = latest_complete_checkpoint(rd.checkpoints_dir)
    if ckpt is None and legacy and rd.checkpoints_dir.is_dir():
        for c in sorted(rd.checkpoints_dir.glob("checkpoint-*"), key=checkpoint_step, reverse=True):
            try:
                json.loads((c / "trainer_state.json").read_text(encoding="utf-8"))
                return c
            except (OSError, ValueError):
                continue
    return ckpt


def _drop_incomplete_checkpoints(rd: RunDir, after: int) -> None:
    """Remove ``checkpoint-N`` (N > ``after``) left unmarked by a kill mid-save; aigc-rl wrote them."""
    if not rd.checkpoints_dir.is_dir():
        return
    for c in rd.checkpoints_dir.glob("checkpoint-*"):
        if c.is_dir() and not c.is_symlink() and checkpoint_step(c) > after and not is_complete(c):
            shutil.rmtree(c)


def make_reward(cfg: TrainConfig) -> Any:
    """The run's composite reward (``cfg.reward`` combined as ``cfg.composition``).

    Components that need the run's model get it: ``fluency`` scores with the run's own base model (shared with
    the policy by :func:`share_reference_model` once the policy is built); ``completion`` gets the model's EOS
    ids, so that in training it reads TRL's ``completion_ids`` (a completion that stopped inside the limit holds
    an EOS id) rather than guessing from the text; ``soft-overlong`` ramps over the last quarter of the run's
    ``max_new_tokens`` and counts tokens with the model's tokenizer when no ``completion_ids`` are passed
    (evaluation).

    Raises:
        ModelNotFoundError: ``completion`` or ``soft-overlong`` is in the spec and the model cannot be resolved.
    """
    from aigc_rl.rewards.composite import make_composite, parse_spec

    names = [n for n, _ in parse_spec(cfg.reward)]
    kwargs: dict[str, dict[str, Any]] = {"fluency": {"model": cfg.model}} if "fluency" in names else {}
    if "completion" in names or "soft-overlong" in names:
        from transformers import AutoTokenizer, GenerationConfig

        from aigc_rl.models import resolve_model

        path = resolve_model(cfg.model)
        tokenizer = AutoTokenizer.from_pretrained(path)
        if "completion" in names:
            try:
                gen = GenerationConfig.from_pretrained(path)
            except OSError:  # no generation_config.json: the tokenizer's EOS alone
                gen = None
            model = type("_M", (), {"generation_config": gen})()
            kwargs["completion"] = {"eos_token_id": sorted(eos_token_ids(model, tokenizer))}
        if "soft-overlong" in names:
            limit = cfg.max_new_tokens
            kwargs["soft-overlong"] = {
                "max_completion_len": limit,
                "soft_punish_cache": max(1, limit // 4),
                "tokenizer": tokenizer,
            }
    return make_composite(
        cfg.reward, normalize=cfg.normalize, reward_kwargs=kwargs, composition=cfg.composition or "sum"
    )


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
        prompt_column=cfg.prompt_column,
        reference_columns=cfg.reference_column_list,
    )


def train_text(cfg: TrainConfig) -> Path:
    """The text backend's training (:class:`aigc_rl.backends.TextBackend`): TRL GRPO/RLOO with a LoRA adapter.

    Call :func:`run_train`, which applies the checks every run kind shares first.

    Raises:
        See :func:`run_train`.
    """
    import torch

    from aigc_rl.models import check_model_files, resolve_model

    run_dir = cfg.resolved_output_dir()
    from aigc_rl.prompts import load_prompts

    # Build everything that can fail on bad input before touching the run directory.
    use_cuda = cfg.device.startswith("cuda") or (cfg.device == "auto" and torch.cuda.is_available())
    check_vllm(cfg, use_cuda)  # first: it needs no file read
    _check_prompt_count(
        cfg,
        load_prompts(
            cfg.prompts or cfg.task,
            "train",
            prompt_column=cfg.prompt_column,
            reference_columns=cfg.reference_column_list,
        ),
    )
    from aigc_rl.tracking import parse_report_to, require_trackers

    require_trackers(parse_report_to(cfg.report_to, "text"))  # a missing tensorboard/wandb fails here
    model_path = resolve_model(cfg.model)  # a missing model fails here
    check_model_files(model_path)  # a truncated safetensors file or a broken tokenizer too
    check_model_limits(cfg, model_path)
    init = _resolve_run_init(cfg, run_dir)  # a bad --init fails here, before the run directory is touched
    reward = make_reward(cfg)  # after the model's files are checked: it may read the tokenizer
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but torch sees no GPU; use --device cpu or auto")

    return run_in_dir(cfg, lambda rd, main, stop: _train_text(cfg, rd, main, reward, use_cuda, stop, init))


def run_in_dir(cfg: TrainConfig, body: Any) -> Path:
    """Run ``body(rd, main, stop)`` in the run directory of ``cfg``: prepared (``--resume`` / ``--overwrite``)
    and locked by the main process, inside the signal handlers; a signal marks the run ``interrupted`` at its
    newest complete checkpoint. Shared by RL (:func:`train_text`) and SFT (``agents/trl/sft.py``).

    Args:
        cfg: The checked run config; ``cfg.resolved_output_dir()`` is the run directory.
        body: ``(RunDir, is_main_process, StopFlag) -> None``; raises KeyboardInterrupt when a signal stopped it.

    Returns:
        The run directory.

    Raises:
        TrainingInterrupted: a signal stopped the run (its exit status is the signal's).
    """
    from aigc_rl.agents.trl.trainer import StopFlag

    run_dir = cfg.resolved_output_dir()
    rd = RunDir(run_dir)
    main = is_main_process()
    if main:
        rd.prepare(resume=cfg.resume, overwrite=cfg.overwrite)
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
    stop = StopFlag()  # set by the first SIGINT/SIGTERM from here on
    try:
        with graceful_signals(stop):
            body(rd, main, stop)
    except KeyboardInterrupt:
        ckpt = latest_complete_checkpoint(rd.checkpoints_dir)
        step = checkpoint_step(ckpt) if ckpt is not None else 0
        if main and rd.record_path.is_file():
            rd.update_record(status="interrupted", global_step=step)
        raise TrainingInterrupted(run_dir, step, stop.requested or signal.SIGINT) from None
    finally:
        rd.release()
    return run_dir


def _vllm_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def check_vllm(cfg: TrainConfig, use_cuda: bool) -> None:
    """Check that ``--use-vllm`` can run here: vLLM is importable and the run trains on a GPU.

    TRL's colocate mode (``GRPOConfig(use_vllm=True, vllm_mode="colocate")``) starts a vLLM engine inside each
    training process, on that process's GPU; vLLM has no CPU path there. Nothing is checked without
    ``use_vllm``.

    Args:
        cfg: The run config.
        use_cuda: Whether the run trains on a GPU (``--device cuda``, or ``auto`` with a GPU visible).

    Raises:
        ConfigError: ``use_vllm`` is set and vllm is not installed, or the run does not train on a GPU.
    """
    if not cfg.use_vllm:
        return
    if not _vllm_installed():
        raise ConfigError(
            "--use-vllm: vllm is not installed; install vllm on a GPU machine (pip install vllm) or drop --use-vllm"
        )
    if not use_cuda:
        raise ConfigError(
            f"--use-vllm needs a GPU, but this run trains on the CPU (--device {cfg.device}"
            f"{', torch sees no GPU' if cfg.device == 'auto' else ''}); run on a GPU with --device cuda or drop "
            "--use-vllm"
        )


def _resolve_run_init(cfg: TrainConfig, run_dir: Path) -> Any:
    """The run's ``--init`` source to copy into ``RUN/init`` (:class:`aigc_rl.lineage.InitSource`), or ``None``
    when the run has no init or (``--resume``) already holds its copy.

    Raises:
        InitError: see :func:`aigc_rl.lineage.resolve_init`.
    """
    from aigc_rl.lineage import INIT_DIR, resolve_init

    if cfg.init is None or (cfg.resume and (run_dir / INIT_DIR).is_dir()):
        return None
    return resolve_init(cfg.init, cfg.model)


def _train_text(
    cfg: TrainConfig, rd: RunDir, main: bool, reward: Any, use_cuda: bool, stop: Any, init: Any = None
) -> None:
    """The text training proper, inside the run's lock and the signal handlers of :func:`run_train`.

    ``init`` (:func:`_resolve_run_init`) is copied into ``RUN/init`` once the run is recorded; the policy is
    then built from that copy (base + init merged, :func:`aigc_rl.lineage.load_policy`), also on ``--resume``.

    Raises:
        KeyboardInterrupt: a signal stopped it (after a final checkpoint when it was the first signal).
    """
    from transformers import set_seed

    from aigc_rl.agents.trl.trainer import AdaptiveKLController, StopFlag, build_trainer
    from aigc_rl.lineage import INIT_DIR, copy_init, init_chain, load_policy

    run_dir = rd.path
    resume_from: str | None = None
    if cfg.resume:
        ckpt = resume_checkpoint(rd, legacy=not rd.record_path.is_file())
        start = checkpoint_step(ckpt) if ckpt is not None else 0
        if main:
            _drop_incomplete_checkpoints(rd, start)
            rd.metrics.truncate_after(start)  # the steps after it are trained, and logged, again
        resume_from = str(ckpt) if ckpt is not None else None
        if main:
            where = (
                f"checkpoint {ckpt} (step {start})" if ckpt is not None else "step 0 (no complete checkpoint)"
            )
            logger.info("aigc-rl train: resuming %s from %s", run_dir, where)
    if main:
        if cfg.resume and rd.record_path.is_file():
            rd.update_record(status="running", config=cfg.to_dict(), resumed_from=resume_from)
        else:
            extra = {"init": init.record} if init is not None else None
            rd.write_record(run_record(kind="text", config=cfg.to_dict(), reward=reward, extra=extra))
        if init is not None:
            copy_init(init, run_dir / INIT_DIR)  # the run's own copy: resume, eval and export use it
    set_seed(cfg.seed)
    if main:
        cfg.save(run_dir / "config.yaml")
    chain = None
    if cfg.init is not None:  # other ranks read the source itself: the copy may not be there yet
        chain = init_chain(run_dir / INIT_DIR) if main or init is None else init.chain()
    # With an init, TRL's reference (the model with the new adapter disabled) is the init policy.
    model, tokenizer = load_policy(cfg.model, chain, device="cuda" if use_cuda else "cpu")
    task = make_text_task(cfg, tokenizer, "train", reward)
    trainer = build_trainer(cfg, task, model, tokenizer, run_dir, use_cuda)
    if (
        cfg.init is None
    ):  # with an init the adapter-disabled model is the init, not the base fluency scores with
        share_reference_model(cfg, reward, trainer.model, tokenizer)  # no second copy of the base for fluency
    trainer.remove_callback(StopFlag)  # the run's own flag, set by a signal that came before training
    trainer.add_callback(stop)
    trainer.stop_flag = stop
    for cb in trainer.callback_handler.callbacks:
        if isinstance(cb, AdaptiveKLController):
            cb.restore(resume_from)  # the beta the controller had reached at the checkpoint
    if stop.requested is not None:
        raise KeyboardInterrupt
    train_and_save(trainer, tokenizer, rd, cfg, stop, use_cuda, resume_from)


def train_and_save(
    trainer: Any,
    tokenizer: Any,
    rd: RunDir,
    cfg: TrainConfig,
    stop: Any,
    use_cuda: bool,
    resume_from: str | None,
    saved: str = "adapter",
    extra: Any = None,
) -> None:
    """Train, then (main process) save the policy to ``RUN/<saved>/`` with its tokenizer, write
    ``train_summary.json`` and mark the run finished. Shared by RL and SFT.

    Args:
        saved: ``"adapter"`` (LoRA) or ``"model"`` (a full fine-tune).
        extra: ``steps -> dict`` of run-kind fields added to the summary, or ``None``.

    Raises:
        KeyboardInterrupt: a signal stopped training before ``cfg.max_steps`` (a signal after the last step
            lets the run finish).
    """
    t0 = time.time()
    trainer.train(resume_from_checkpoint=resume_from)
    elapsed = time.time() - t0
    if stop.requested is not None and trainer.state.global_step < cfg.max_steps:
        raise KeyboardInterrupt
    if trainer.is_world_process_zero():
        out = rd.path / saved
        trainer.model.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
        steps = trainer.state.global_step
        summary = {
            "global_step": steps,
            "train_seconds": round(elapsed, 2),
            "steps_per_second": round(steps / elapsed, 4) if elapsed > 0 else None,
            "device": "cuda" if use_cuda else "cpu",
            "world_size": trainer.accelerator.num_processes,
            "resumed_from": resume_from,
            **(extra(steps) if extra is not None else {}),
        }
        atomic_write_json(rd.path / "train_summary.json", summary)
        rd.update_record(status="finished", global_step=steps)


def summarize(per_prompt: dict[str, list[float]], seed: int = 0) -> dict[str, dict[str, Any]]:
    """``{metric: {"mean": float, "ci95": [lo, hi]}}`` from per-prompt values."""
    out = {}
    for k, vals in per_prompt.items():
        arr = np.array([np.nan if v is None else v for v in vals], dtype=np.float64)
        lo, hi = bootstrap_ci(arr, seed=seed)
        out[k] = {"mean": float(np.nanmean(arr)) if np.any(~np.isnan(arr)) else math.nan, "ci95": [lo, hi]}
    return out


def repetition_rate(text: str, n: int = 3) -> float:
    """Fraction of a completion's n-grams that repeat an earlier n-gram of the same completion (0 = none)."""
    g = ngrams(tokenize(text), n)
    return 1.0 - len(set(g)) / len(g) if g else 0.0


def generate_completions(
    model: Any,
    tokenizer: Any,
    prompt_ids: list[list[int]],
    num_samples: int,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    batch_size: int = 64,
    progress: Any = None,
) -> list[list[str]]:
    """Sample ``num_samples`` completions per prompt with ``model.generate`` (left padding, KV cache).

    Returns:
        One list of ``num_samples`` completion strings per prompt (special tokens removed).
    """
    return sample_completions(
        model, tokenizer, prompt_ids, num_samples, max_new_tokens, temperature, seed, batch_size, progress
    )[0]


def eos_token_ids(model: Any, tokenizer: Any) -> set[int]:
    """Every id that ends generation: the model's ``generation_config.eos_token_id`` (an int or a list) and the
    tokenizer's ``eos_token_id``."""
    ids: set[int] = set()
    for v in (
        getattr(getattr(model, "generation_config", None), "eos_token_id", None),
        tokenizer.eos_token_id,
    ):
        if isinstance(v, int):
            ids.add(v)
        elif v is not None:
            ids.update(int(x) for x in v)
    return ids


def sample_completions(
    model: Any,
    tokenizer: Any,
    prompt_ids: list[list[int]],
    num_samples: int,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    batch_size: int = 64,
    progress: Any = None,
) -> tuple[list[list[str]], list[list[bool]]]:
    """:func:`generate_completions` that also says which completions finished.

    The sampled tokens and texts are those of :func:`generate_completions` (same calls, same seed); the flags
    are read from the generated ids afterwards.

    Returns:
        ``(texts, finished)``: one list of ``num_samples`` strings per prompt, and aligned flags, ``True`` where
        the completion ended with an EOS id (:func:`eos_token_ids`) within ``max_new_tokens`` tokens, ``False``
        where generation was cut off at the limit.
    """
    import torch

    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    flat = [ids for ids in prompt_ids for _ in range(num_samples)]
    texts: list[str] = []
    finished: list[bool] = []
    eos = torch.tensor(sorted(eos_token_ids(model, tokenizer)), dtype=torch.long)
    torch.manual_seed(seed)
    for b in range(0, len(flat), batch_size):
        chunk = flat[b : b + batch_size]
        width = max(len(x) for x in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        # left padding; the mask marks padding (pad == eos, case C1, huggingface/transformers#34658)
        for r, x in enumerate(chunk):
            ids[r, width - len(x) :] = torch.tensor(x)
            mask[r, width - len(x) :] = 1
        with torch.no_grad():
            out = model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                do_sample=True,
                temperature=temperature,
                top_p=1.0,
                top_k=0,
                max_new_tokens=max_new_tokens,
                pad_token_id=pad,
            )
        new = out[:, width:]
        texts += tokenizer.batch_decode(new, skip_special_tokens=True)
        finished += torch.isin(new.cpu(), eos).any(dim=1).tolist()
        if progress is not None:
            progress.update(len(chunk))
    per_prompt = range(len(prompt_ids))
    return (
        [texts[i * num_samples : (i + 1) * num_samples] for i in per_prompt],
        [finished[i * num_samples : (i + 1) * num_samples] for i in per_prompt],
    )


def text_run_config(run_dir: str | Path) -> TrainConfig:
    """The recorded config of a finished text run, after checking that its policies can be rebuilt.

    Reads only (no lock, nothing written): ``aigc-rl eval`` calls it inside the run's lock, ``aigc-rl generate``
    without one.

    Args:
        run_dir: A text run directory written by ``aigc-rl train``.

    Returns:
        The run's :class:`~aigc_rl.config.TrainConfig` (``resume`` and ``overwrite`` cleared).

    Raises:
        FileNotFoundError: the run's ``adapter/`` is missing (training not finished; the message says how to
            resume it), or the run started from ``--init`` and its ``init/`` copy is missing.
        UserFileError: the adapter's files are damaged.
    """
    from aigc_rl.lineage import INIT_DIR
    from aigc_rl.models import check_adapter_files

    run_dir = Path(run_dir)
    raw = recorded_config(run_dir) or {}
    cfg_fields = {k: v for k, v in raw.items() if k in TrainConfig.field_names()}
    cfg_fields.update(resume=False, overwrite=False)
    cfg = TrainConfig(**cfg_fields)
    adapter = run_dir / "adapter"
    command = "sft" if cfg.agent == "sft" else "train"
    if is_full_finetune(run_dir, cfg):
        if not (run_dir / "model" / "config.json").is_file():
            raise FileNotFoundError(
                f"{run_dir / 'model'} is missing: the run has not finished training (resume it with `aigc-rl "
                f"sft --output-dir {run_dir} --resume`)"
            )
        from aigc_rl.models import check_model_files

        check_model_files(run_dir / "model")  # damaged weights fail before any model is loaded
    elif not (adapter / "adapter_config.json").exists():
        raise FileNotFoundError(
            f"{adapter} is missing: the run has not finished training (resume it with `aigc-rl {command} "
            f"--output-dir {run_dir} --resume`)"
        )
    else:
        check_adapter_files(adapter)  # a damaged adapter fails before any model is loaded
    init_dir = run_dir / INIT_DIR
    if cfg.init is not None and not init_dir.is_dir():
        raise FileNotFoundError(
            f"{init_dir} is missing: the run started from --init {cfg.init} but holds no copy of it; the run "
            "directory is incomplete (train it again with --overwrite)"
        )
    return cfg


def is_full_finetune(run_dir: str | Path, cfg: TrainConfig) -> bool:
    """True for an ``aigc-rl sft --full-finetune`` run: it saves a whole model in ``model/``, no adapter."""
    return bool((recorded_config(run_dir) or {}).get("full_finetune")) and cfg.agent == "sft"


def policy_names(cfg: TrainConfig, run_dir: str | Path | None = None) -> tuple[str, ...]:
    """A text run's policies in lineage order: ``("base", "tuned")``, or ``("base", "init", "tuned")`` for a
    run trained with ``--init`` (a full fine-tune, :func:`is_full_finetune`, has base and tuned only)."""
    if cfg.init is None or (run_dir is not None and is_full_finetune(run_dir, cfg)):
        return ("base", "tuned")
    return ("base", "init", "tuned")


def run_policies(
    cfg: TrainConfig,
    run_dir: str | Path,
    names: Sequence[str],
    model: Any,
    tokenizer: Any,
    reward: Any,
    device: str,
) -> Iterator[tuple[str, Any, AbstractContextManager[Any]]]:
    """Build a text run's policies one after the other, as evaluation samples them.

    * ``base``: the pretrained base model (``model``); for a run without ``--init`` it is the tuned policy
      with its LoRA adapter disabled (one copy of the weights for both).
    * ``init``: the run's init policy (base with ``RUN/init`` merged, :func:`aigc_rl.lineage.load_run_policy`),
      i.e. the tuned policy with the run's adapter disabled.
    * ``tuned``: the run's adapter (``RUN/adapter``) on the base or on the init policy; for a full fine-tune
      (:func:`is_full_finetune`) the run's ``model/``.

    For a run without an init, the run's fluency reward is pointed at the policy's base
    (:func:`share_reference_model`). Once the init policy is loaded, ``model`` is dropped (the caller should
    drop its own reference, and each yielded policy once it is done with it).

    Args:
        cfg: :func:`text_run_config` of the run.
        run_dir: The run directory.
        names: Policies to build, a subsequence of :func:`policy_names` in that order.
        model: The base model, as :func:`aigc_rl.models.load_causal_lm` loads ``cfg.model``.
        tokenizer: Its tokenizer.
        reward: :func:`make_reward` of ``cfg``.
        device: ``"cpu"`` or ``"cuda"``.

    Yields:
        ``(name, policy, context)``: sample ``policy`` inside ``with context:`` (which disables the adapter for
        ``base`` and ``init`` where the policy carries one, and merges it for ``tuned``,
        :func:`agents.trl.merged.lora_merged`: faster sampling of the same policy).

    Raises:
        UserFileError: an adapter that cannot be loaded.
    """
    from contextlib import nullcontext

    from aigc_rl.lineage import load_run_policy
    from aigc_rl.models import load_adapter

    from .merged import lora_merged

    adapter = Path(run_dir) / "adapter"
    if is_full_finetune(run_dir, cfg):  # base and tuned are two models: the run's base and its model/
        from aigc_rl.models import load_causal_lm

        for name in names:
            if name == "base":
                yield name, model.eval(), nullcontext()
            else:
                model = None
                yield (
                    name,
                    load_causal_lm(str(Path(run_dir) / "model"), device=device)[0].eval(),
                    nullcontext(),
                )
        return
    if cfg.init is None:
        policy = load_adapter(model, adapter)
        policy.eval()
        del model
        # fluency scores with the base: the policy with its adapter disabled
        share_reference_model(cfg, reward, policy, tokenizer)
        for name in names:
            yield name, policy, policy.disable_adapter() if name == "base" else lora_merged(policy)
        return
    policy = None
    for name in names:  # base -> init -> tuned: the base alone, then the init policy with the run's adapter
        if name == "base":
            yield name, model.eval(), nullcontext()
            continue
        if policy is None:
            model = None  # the init policy replaces the base
            policy = load_adapter(load_run_policy(run_dir, cfg.model, device=device)[0], adapter)
            policy.eval()
        yield name, policy, policy.disable_adapter() if name == "init" else lora_merged(policy)


def _score_policy(
    task: Any, indices: list[int], completions: list[list[str]], finished: list[list[bool]] | None = None
) -> tuple[dict[str, list[float]], list[dict]]:
    flat_idx = [i for i, cs in zip(indices, completions, strict=True) for _ in cs]
    flat = [c for cs in completions for c in cs]
    groups = [g for g, cs in enumerate(completions) for _ in cs]
    extra = {"finished": [f for fs in finished for f in fs]} if finished is not None else {}
    total, comps = task.score(flat_idx, flat, group_ids=groups, **extra)
    names = [k for k in comps if not k.endswith("/weighted")]
    per_sample: dict[str, list[float]] = {"reward": [np.nan if v is None else v for v in total]}
    for k in names:
        per_sample[k] = [np.nan if v is None else v for v in comps[k]]
    # the eval's own statistics; a reward component of the same name (the `length` reward) keeps its key
    per_sample[eval_stat_key("length", names)] = [float(len(c.split())) for c in flat]
    per_sample[eval_stat_key("repetition", names)] = [repetition_rate(c) for c in flat]
    bounds = np.cumsum([0] + [len(cs) for cs in completions])  # each prompt's samples are contiguous
    spans = list(zip(bounds[:-1], bounds[1:], strict=True))
    per_prompt = {k: [float(np.nanmean(v[a:b])) for a, b in spans] for k, v in per_sample.items()}
    # corpus distinct-2 of each prompt's group of samples (Li et al. 2016)
    per_prompt[eval_stat_key("distinct-2-corpus", names)] = [distinct_n_corpus(cs, 2) for cs in completions]
    # Every score is under "scores"; at the top level too unless its name is a row field: a reward named
    # `completion` (the default reward has one) must not replace the completion's text.
    reserved = {"prompt", "completion", "policy", "judges", "scores"}
    rows = [
        {
            **{k: per_sample[k][j] for k in per_sample if k not in reserved},
            "scores": {k: per_sample[k][j] for k in per_sample},
            "prompt": task.encode(flat_idx[j])[1],
            "completion": flat[j],
        }
        for j in range(len(flat))
    ]
    return per_prompt, rows


def evaluate_text(
    run_dir: str | Path,
    n_prompts: int | None = None,
    samples: int | None = None,
    judges: str | None = "default",
) -> dict:
    """The text backend's evaluation (:class:`aigc_rl.backends.TextBackend`); call :func:`evaluate_run`, which
    takes the run's lock and writes the report. Arguments and errors as there.

    Besides the training reward's metrics (``policies``), the held-out judges selected by ``judges`` (see
    :func:`aigc_rl.judges.evaluate.select_judges`) score the same samples: ``eval.json`` gets ``"judges":
    {"base": {JUDGE: {"mean", "ci95"}}, "tuned": {...}}`` and ``"judges_skipped": {JUDGE: reason}``, and each
    ``samples.jsonl`` row a ``"judges": {JUDGE: value}`` sub-dict. The judges run after sampling and use no
    random numbers of the sampler, so ``policies`` is the same with any ``judges``.

    A full fine-tune (``aigc-rl sft --full-finetune``) has no adapter: its tuned policy is the run's ``model/``
    and its base the run's ``model``, loaded apart (two models in memory).

    Raises:
        ConfigError: ``judges`` names an unknown judge or one whose dependencies are missing.
    """
    from aigc_rl.judges.evaluate import score_judges, select_judges

    judge_names, judges_skipped = select_judges(judges)  # bad --judges: exit 2 before any model is loaded
    run_dir = Path(run_dir)

    cfg = text_run_config(run_dir)
    import torch
    from tqdm.auto import tqdm

    from aigc_rl.lineage import lineage_of
    from aigc_rl.models import load_causal_lm
    from aigc_rl.progress import tqdm_disabled

    n_prompts = n_prompts or cfg.eval_prompts
    samples = samples or cfg.eval_samples
    device = "cuda" if torch.cuda.is_available() and cfg.device != "cpu" else "cpu"
    reward = make_reward(cfg)
    if samples < 2 and getattr(reward, "requires_group", False):
        raise ConfigError(
            f"--samples {samples}: the run's reward {cfg.reward!r} has a component that compares a completion "
            "with its siblings (a group reward such as embedding-diversity or distinct-n), which needs at least "
            "2 samples per prompt; pass --samples 2 or more"
        )
    model, tokenizer = load_causal_lm(cfg.model, device=device)
    task = make_text_task(cfg, tokenizer, "eval", reward)
    indices = list(range(min(n_prompts, len(task))))
    prompt_ids = [task.encode(i)[0] for i in indices]
    names = policy_names(cfg, run_dir)
    policies = run_policies(cfg, run_dir, names, model, tokenizer, reward, device)
    del model  # run_policies holds it, and drops it once the init policy replaces it
    total = len(names) * len(indices) * samples
    results: dict[str, dict] = {}
    judge_results: dict[str, dict] = {}
    judge_cache: dict[str, Any] = {}
    prompt_texts = [task.encode(i)[1] for i in indices]
    sample_rows: list[dict] = []
    with tqdm(total=total, desc="aigc-rl eval: sampling", unit="completion", disable=tqdm_disabled()) as bar:
        for name, policy, mode in policies:
            with mode:
                comps, finished = sample_completions(
                    policy,
                    tokenizer,
                    prompt_ids,
                    samples,
                    cfg.max_new_tokens,
                    cfg.temperature,
                    seed=cfg.seed,
                    progress=bar,
                )
            del policy
            per_prompt, rows = _score_policy(task, indices, comps, finished)
            results[name] = summarize(per_prompt, seed=cfg.seed)
            judged, judge_values = score_judges(judge_names, comps, prompt_texts, finished, judge_cache)
            judge_results[name] = summarize(judged, seed=cfg.seed)
            sample_rows += [
                dict(r, policy=name, judges={k: v[j] for k, v in judge_values.items()})
                for j, r in enumerate(rows)
            ]
    out = {
        "n_prompts": len(indices),
        "samples_per_prompt": samples,
        "kind": "text",
        "model": cfg.model,
        "task": cfg.prompts or cfg.task,
        "reward": cfg.reward,
        "components": reward.component_names() if hasattr(reward, "component_names") else [reward.name],
        "weights": getattr(reward, "weights", {}),
        "kl_budget": None,
        "ci_method": "percentile bootstrap over prompts, 5000 resamples",
        "policies": results,
        "judges": judge_results,
        "judges_skipped": judges_skipped,
    }
    if cfg.init is not None:
        out["lineage"] = lineage_of(run_dir)  # base -> init(s) -> tuned, from the run records
    atomic_write_json(run_dir / "eval.json", out)
    atomic_write_text(
        run_dir / "samples.jsonl",
        "".join(json.dumps(json_safe(r), ensure_ascii=False, allow_nan=False) + "\n" for r in sample_rows),
    )
    return out
