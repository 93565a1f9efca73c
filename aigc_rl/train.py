"""``aigc-rl train``: what every run kind shares, then the backend of the run's kind.

:func:`run_train` restores and checks the recorded config on ``--resume``, refuses input files that lie
inside a directory about to be overwritten, and hands the run to :func:`aigc_rl.backends.backend_for`
(text: :mod:`aigc_rl.agents.trl.run`; image: :mod:`aigc_rl.agents.sb3.latent_train`). The run directory's
rules (lock, record, checkpoints, metrics) are :class:`aigc_rl.run.RunDir`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .agents.trl.run import (  # the text backend's helpers, re-exported for scripts that drive a trainer
    check_model_limits,
    is_main_process,
    make_reward,
    make_text_task,
    prepare_run_dir,
    resume_checkpoint,
    share_reference_model,
    train_text,
)
from .config import TrainConfig, recorded_config
from .errors import RunDirError
from .run import TrainingInterrupted

__all__ = [
    "run_train",
    "train_text",
    "prepare_run_dir",
    "refuse_inputs_inside",
    "RunDirError",
    "TrainingInterrupted",
    "is_main_process",
    "check_model_limits",
    "resume_checkpoint",
    "make_reward",
    "make_text_task",
    "share_reference_model",
]


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
        return True
    except ValueError:
        return False


def refuse_inputs_inside(run_dir: Path, inputs: Sequence[str | Path | None]) -> None:
    """``--overwrite``: refuse when an input file (``--prompts``, ``--sft-data``, ``--config``) lies in the directory.

    Raises:
        RunDirError: naming the file and the fix.
    """
    for p in inputs:
        if p and Path(p).exists() and _inside(Path(p), run_dir):
            raise RunDirError(
                f"--overwrite: {p} lies inside {run_dir}, the directory being overwritten; nothing was deleted. "
                "Move the file out of it or choose another --output-dir"
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
        from .prompts import local_source_path

        refuse_inputs_inside(run_dir, [local_source_path(cfg.prompts), cfg.sft_data, *inputs])
    from .backends import backend_for

    return backend_for(cfg.kind).train(cfg)
