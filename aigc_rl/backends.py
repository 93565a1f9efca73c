"""Run backends: one small interface per kind of run (text, image) behind ``train`` and ``eval``.

``aigc-rl train`` and ``aigc-rl eval`` do what every run shares — parse and check the config, apply the run
directory's rules (:class:`aigc_rl.run.RunDir`), read the run's kind from its record — and hand the rest to
the backend of the run's kind. A backend trains into a prepared :class:`~aigc_rl.run.RunDir` (writing its record,
metrics through :class:`~aigc_rl.run.MetricsWriter`, complete-marked checkpoints), evaluates a finished run,
and loads its trained policy. A new kind of run (e.g. supervised fine-tuning) is one more entry in
:data:`BACKENDS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ConfigError

if TYPE_CHECKING:
    from .config import TrainConfig

__all__ = ["RunBackend", "TextBackend", "ImageBackend", "BACKENDS", "backend_for"]


class RunBackend(Protocol):
    """What a kind of run provides."""

    kind: str

    def train(self, cfg: TrainConfig) -> Path:
        """Train into ``cfg``'s run directory (its checks already passed) and return the directory.

        Raises:
            UserInputError: bad input, before the directory is touched.
            TrainingInterrupted: a signal stopped training after a checkpoint.
        """
        ...

    def evaluate(
        self, run_dir: Path, n_prompts: int | None, samples: int | None, judges: str | None = "default"
    ) -> dict[str, Any]:
        """Compare the run's base and tuned policies, write ``eval.json`` (and samples), return its content.

        ``judges`` selects the held-out text judges (:func:`aigc_rl.judges.evaluate.select_judges`); a kind
        without them ignores it."""
        ...

    def load_policy(self, run_dir: Path, device: str = "cpu") -> Any:
        """The run's trained policy (text: ``(PeftModel, tokenizer)``; image: the SB3 model)."""
        ...


class TextBackend:
    """Language-model policies trained with TRL (GRPO, RLOO; supervised fine-tuning: SFT) and a LoRA adapter
    (or, for a full fine-tune, a whole model in ``model/``)."""

    kind = "text"

    def train(self, cfg: TrainConfig) -> Path:
        if cfg.agent == "sft":
            from aigc_rl.agents.trl.sft import train_sft

            return train_sft(cfg)
        from aigc_rl.agents.trl.run import train_text

        return train_text(cfg)

    def evaluate(
        self, run_dir: Path, n_prompts: int | None, samples: int | None, judges: str | None = "default"
    ) -> dict[str, Any]:
        from aigc_rl.agents.trl.run import evaluate_text

        return evaluate_text(run_dir, n_prompts, samples, judges=judges)

    def load_policy(self, run_dir: Path, device: str = "cpu") -> Any:
        from .config import recorded_config
        from .models import check_adapter_files, load_adapter, load_causal_lm

        cfg = recorded_config(run_dir) or {}
        if cfg.get("full_finetune") and (Path(run_dir) / "model").is_dir():  # a full fine-tune (sft)
            return load_causal_lm(str(Path(run_dir) / "model"), device=device)
        adapter = Path(run_dir) / "adapter"
        check_adapter_files(adapter)
        model, tokenizer = load_causal_lm(cfg.get("model", "smollm2-135m-instruct"), device=device)
        return load_adapter(model, adapter), tokenizer


class ImageBackend:
    """Latent-space policies of a GAN/VAE trained with stable-baselines3 (PPO, SAC, A2C)."""

    kind = "image"

    def train(self, cfg: TrainConfig) -> Path:
        from aigc_rl.agents.sb3.latent import train_latent

        return train_latent(cfg)

    def evaluate(
        self, run_dir: Path, n_prompts: int | None, samples: int | None, judges: str | None = "default"
    ) -> dict[str, Any]:
        from aigc_rl.agents.sb3.latent import evaluate_latent  # its held-out judge is the digit classifier

        return evaluate_latent(run_dir, n_prompts=n_prompts, samples=samples)

    def load_policy(self, run_dir: Path, device: str = "cpu") -> Any:
        from aigc_rl.agents.sb3.latent import load_policy

        return load_policy(run_dir, device=device)


#: Backend by run kind (the ``kind`` of ``run.json``).
BACKENDS: dict[str, RunBackend] = {"text": TextBackend(), "image": ImageBackend()}


def backend_for(kind: str) -> RunBackend:
    """The backend of a run kind.

    Raises:
        ConfigError: no backend for ``kind`` (lists the known kinds).
    """
    try:
        return BACKENDS[kind]
    except KeyError:
        raise ConfigError(f"no backend for run kind {kind!r}; known kinds: {', '.join(BACKENDS)}") from None
