"""Experiment trackers of image runs (``--report-to``): TensorBoard through SB3's own logger and W&B through a
small SB3 callback.

Each ``metrics.jsonl`` row of :class:`aigc_rl.agents.sb3.latent_train._TrainCallback` (``reward``,
``rewards/<component>/mean``, ``episodes``, ``time_s``, ``steps_per_s``) goes to every tracker as
``train/<key>`` at its env step, the names text runs use (transformers prefixes ``train/``).

* TensorBoard: SB3 writes its event files to ``tensorboard_log`` (``RUN/tb/<ALGO>_<n>``) with its own losses
  (``train/actor_loss`` ...); :class:`TensorBoardRows` records the rows in the same logger.
* W&B: :class:`WandbCallback` starts a W&B run in the run directory (project ``$WANDB_PROJECT`` or
  ``aigc-rl``; ``WANDB_MODE=offline`` works without an account) and logs the rows.

Sources: stable-baselines3 ``common.logger.Logger.record`` / ``dump`` and ``common.callbacks.BaseCallback``;
``wandb.init`` / ``Run.log`` / ``Run.finish``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

__all__ = ["TensorBoardRows", "WandbCallback", "scalars_of"]


def scalars_of(row: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of a metrics row, keyed ``train/<key>`` (``step`` and non-numbers left out)."""
    return {
        f"train/{k}": float(v)
        for k, v in row.items()
        if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)
    }


class TensorBoardRows:
    """Records metrics rows in an SB3 model's logger (TensorBoard output when ``tensorboard_log`` is set).

    Args:
        model: The SB3 algorithm; its ``logger`` is read at each row (SB3 sets it up in ``learn``).
    """

    def __init__(self, model: Any) -> None:
        self.model = model

    def log_row(self, row: Mapping[str, Any]) -> None:
        """Record the row's numbers and write them at env step ``row["step"]``."""
        logger = self.model.logger
        for k, v in scalars_of(row).items():
            logger.record(k, v)
        logger.dump(step=int(row["step"]))

    def close(self) -> None:
        """Flush and close the event file (nothing to do when ``learn`` never ran)."""
        logger = getattr(self.model, "_logger", None)
        if logger is not None:
            logger.close()


class WandbCallback(BaseCallback):
    """Logs metrics rows of an image run to Weights & Biases.

    The W&B run is started at construction (so a login or network error comes before training) in
    ``run_dir`` with the run's config; :meth:`log_row` logs one row at its env step; :meth:`close` finishes
    the W&B run.

    Args:
        run_dir: The aigc-rl run directory (W&B writes its files under ``run_dir/wandb``).
        config: The run's resolved config (recorded by W&B).

    Raises:
        ImportError: wandb is not installed (:func:`aigc_rl.tracking.require_trackers` checks this first).
    """

    def __init__(self, run_dir: str | Path, config: Mapping[str, Any]) -> None:
        super().__init__()
        import wandb

        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "aigc-rl"),
            dir=str(run_dir),
            name=Path(run_dir).name,
            config=dict(config),
        )

    def _on_step(self) -> bool:
        return True

    def log_row(self, row: Mapping[str, Any]) -> None:
        """Log the row's numbers at env step ``row["step"]``."""
        self.run.log(scalars_of(row), step=int(row["step"]))

    def close(self) -> None:
        """Finish the W&B run."""
        self.run.finish()
