"""Run configuration: one dataclass for ``aigc-rl train``, filled from defaults, a YAML file and CLI flags."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["TrainConfig", "ConfigError", "TEXT_AGENTS", "IMAGE_AGENTS", "TEXT_ENVS", "IMAGE_ENVS"]

TEXT_AGENTS = ("grpo", "rloo")
IMAGE_AGENTS = ("ppo", "sac", "a2c")
TEXT_ENVS = ("aigc_rl/TextCompletion-v0",)
TEXT_MAX_STEPS = 40
IMAGE_MAX_STEPS = 20_000
IMAGE_ENVS = ("aigc_rl/LatentImage-v0",)


@dataclass
class TrainConfig:
    """Everything a training run needs. Saved, resolved, as ``config.yaml`` in the run directory."""

    env: str = field(default="aigc_rl/TextCompletion-v0", metadata={"help": "environment id (text or image)"})
    model: str = field(
        default="smollm2-135m-instruct", metadata={"help": "hub id, local dir or embedded name"}
    )
    task: str = field(default="content", metadata={"help": "shipped prompt set: content, support, education"})
    prompts: str | None = field(default=None, metadata={"help": "your own prompt file (.jsonl/.csv/.txt)"})
    reward: str = field(
        default="quality+creativity", metadata={"help": "reward spec, e.g. relevance:1,distinct-2:0.5"}
    )
    normalize: str = field(
        default="none", metadata={"help": "per-component normalisation: none, batch, group"}
    )
    agent: str | None = field(
        default=None,
        metadata={"help": "grpo or rloo (text, default grpo); ppo, sac or a2c (image, default sac)"},
    )
    max_steps: int | None = field(
        default=None,
        metadata={
            "help": f"optimiser steps (text, default {TEXT_MAX_STEPS}) or env steps (image, default {IMAGE_MAX_STEPS})"
        },
    )
    seed: int = field(default=0, metadata={"help": "random seed"})
    output_dir: str | None = field(
        default=None, metadata={"help": "run directory (default runs/<task>-<agent>-seed<seed>)"}
    )
    # text agent (TRL) settings
    learning_rate: float = field(default=2e-4, metadata={"help": "AdamW learning rate of the LoRA adapter"})
    num_generations: int = field(default=4, metadata={"help": "completions per prompt (the GRPO group)"})
    prompts_per_step: int = field(default=2, metadata={"help": "prompts per optimiser step (per process)"})
    max_new_tokens: int = field(default=32, metadata={"help": "completion length limit in tokens"})
    max_prompt_tokens: int = field(
        default=128, metadata={"help": "prompt length limit, chat template included"}
    )
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature of rollouts"})
    beta: float = field(default=0.04, metadata={"help": "KL penalty coefficient to the frozen reference"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha"})
    logging_steps: int = field(default=1, metadata={"help": "log every N steps to metrics.jsonl"})
    save_steps: int = field(default=20, metadata={"help": "checkpoint every N steps"})
    # evaluation
    eval_prompts: int = field(default=60, metadata={"help": "held-out prompts used by `aigc-rl eval`"})
    eval_samples: int = field(default=4, metadata={"help": "completions per held-out prompt and policy"})
    # image settings
    generator: str = field(
        default="gan", metadata={"help": "image generator: gan, vae or a weights directory"}
    )
    n_envs: int = field(default=8, metadata={"help": "parallel envs (image agents)"})
    # runtime
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda"})
    resume: bool = field(
        default=False, metadata={"help": "continue the run in output_dir from its last checkpoint"}
    )
    overwrite: bool = field(default=False, metadata={"help": "replace a run already in output_dir"})

    @property
    def kind(self) -> str:
        return "image" if self.env in IMAGE_ENVS else "text"

    def __post_init__(self) -> None:
        if self.agent is None:
            self.agent = "sac" if self.kind == "image" else "grpo"
        if self.max_steps is None:
            self.max_steps = IMAGE_MAX_STEPS if self.kind == "image" else TEXT_MAX_STEPS
        self.validate()

    def validate(self) -> None:
        """Check every field.

        Raises:
            ConfigError: naming the field, the bad value and the fix.
        """
        import aigc_rl.envs as envs

        if self.env not in envs.ENV_IDS:
            raise ConfigError(
                f"unknown env {self.env!r}; available for training: {', '.join(TEXT_ENVS + IMAGE_ENVS)}"
            )
        agents = IMAGE_AGENTS if self.kind == "image" else TEXT_AGENTS
        if self.agent not in agents:
            raise ConfigError(f"unknown agent {self.agent!r} for {self.env}; available: {', '.join(agents)}")
        if self.kind == "text" and self.env not in TEXT_ENVS:
            raise ConfigError(
                f"env {self.env!r} is not trained by `aigc-rl train`; use {', '.join(TEXT_ENVS + IMAGE_ENVS)}"
            )
        for name in (
            "max_steps",
            "num_generations",
            "prompts_per_step",
            "max_new_tokens",
            "max_prompt_tokens",
            "logging_steps",
            "save_steps",
            "eval_prompts",
            "eval_samples",
            "lora_r",
            "lora_alpha",
            "n_envs",
        ):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r} (--{name.replace('_', '-')})")
        if self.kind == "text" and self.num_generations < 2:
            raise ConfigError(
                f"num_generations must be >= 2 for {self.agent} (group advantages), got {self.num_generations}"
            )
        for name in ("learning_rate", "temperature"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ConfigError(f"{name} must be a positive number, got {v!r}")
        if not isinstance(self.beta, (int, float)) or not math.isfinite(self.beta) or self.beta < 0:
            raise ConfigError(f"beta must be a number >= 0, got {self.beta!r}")
        self._validate_reward()
        if self.normalize not in ("none", "batch", "group"):
            raise ConfigError(f"normalize must be none, batch or group, got {self.normalize!r}")
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ConfigError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.resume and self.overwrite:
            raise ConfigError("--resume and --overwrite exclude each other: pick one")

    def _validate_reward(self) -> None:
        # Parse the spec here so that a bad weight or an empty item is a ConfigError (exit 2), not a traceback.
        if not isinstance(self.reward, str) or not self.reward.strip():
            raise ConfigError(
                f"reward must be a spec string such as 'quality+creativity' or 'relevance:1.0,distinct-2:0.5', "
                f"got {self.reward!r} (--reward)"
            )
        # Weights: finite, |w| <= 1e6, not all 0 (aigc_rl.rewards.spec); a ValueError becomes a ConfigError.
        from aigc_rl.rewards.spec import image_reward_pairs, parse_spec

        try:
            if self.kind == "image":
                image_reward_pairs(self.reward)
            else:
                parse_spec(self.reward)
        except ValueError as e:
            raise ConfigError(f"{e} (--reward)") from None

    def resolved_output_dir(self) -> Path:
        if self.output_dir:
            return Path(self.output_dir)
        name = f"{self.task if not self.prompts else Path(self.prompts).stem}-{self.agent}-seed{self.seed}"
        if self.kind == "image":
            name = f"latent-image-{self.generator}-{self.agent}-seed{self.seed}"
        return Path("runs") / name

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["kind"] = self.kind
        d["output_dir"] = str(self.resolved_output_dir())
        if self.kind == "image":  # the language-model fields do not apply to an image run
            d["model"] = f"{self.generator} (digits)" if self.generator in ("gan", "vae") else self.generator
            d["task"] = "digits"
        return d

    def save(self, path: Path) -> None:
        """Write the resolved config as YAML (atomically)."""
        d = self.to_dict()
        d["saved_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(d, sort_keys=False), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        """Load a YAML config and apply ``overrides`` (CLI flags that were given).

        Raises:
            ConfigError: unreadable/malformed YAML, or a key that is not a config field (lists the fields).
        """
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"config file {p} does not exist")
        if not p.is_file():
            raise ConfigError(
                f"config file {p} is a directory, not a YAML file; pass e.g. configs/quality.yaml"
            )
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
            what = " ".join(str(getattr(e, "problem", None) or e).split())  # one line
            raise ConfigError(
                f"config file {where}: not valid YAML ({what}); fix the file or drop --config"
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(
                f"config file {p} must hold a mapping of field: value, got {type(data).__name__}"
            )
        data = {k: v for k, v in data.items() if k not in ("kind", "saved_at")}
        unknown = sorted(set(data) - set(cls.field_names()))
        if unknown:
            raise ConfigError(
                f"{p}: unknown config keys {unknown}; valid keys: {', '.join(cls.field_names())}"
            )
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**data)
        except TypeError as e:
            raise ConfigError(f"{p}: {e}") from None
