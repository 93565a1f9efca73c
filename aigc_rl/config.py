"""Run configuration: one dataclass for ``aigc-rl train``, filled from defaults, a YAML file and CLI flags."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, UserInputError

__all__ = [
    "TrainConfig",
    "ConfigError",
    "TEXT_AGENTS",
    "DEFAULT_TEXT_REWARD",
    "IMAGE_AGENTS",
    "TEXT_ENVS",
    "IMAGE_ENVS",
    "INT_BOUNDS",
    "RESUME_SAFE",
    "CHOICES",
    "TRL_FIELDS",
    "RL_ONLY",
    "recorded_config",
]

TEXT_AGENTS = ("grpo", "rloo", "sft")
IMAGE_AGENTS = ("ppo", "sac", "a2c")
TEXT_ENVS = ("aigc_rl/TextCompletion-v0",)
#: The main job (issue 11, docs/optimisation.md): 30 GRPO steps, and `aigc-rl eval` samples 2 completions per
#: held-out prompt and policy; sized so that README command 1, set-up included, fits in 12 minutes on 2 CPU
#: cores. The reward: relevance that does not pay for restating the prompt, the completion reward (weight 1),
#: fluency and distinct-2, each normalised in its GRPO group before the weighted sum (``normalize_then_sum``,
#: the GRPO default below), trained at learning rate 4e-4 (:data:`RL_LEARNING_RATE`): configuration F.
TEXT_MAX_STEPS = 30
EVAL_SAMPLES = 2
DEFAULT_TEXT_REWARD = "no-copy-relevance:1+completion:1+fluency:0.1+distinct-2:0.5"
#: Default learning rate of the LoRA adapter: RL (GRPO, RLOO) and supervised fine-tuning (SFT).
RL_LEARNING_RATE = 4e-4
SFT_LEARNING_RATE = 2e-4
IMAGE_MAX_STEPS = 20_000
IMAGE_ENVS = ("aigc_rl/LatentImage-v0",)

#: Inclusive bounds of every integer field. The upper bounds stop values that cannot be meant from hanging or
#: exhausting memory before training starts (a step builds ``prompts_per_step * num_generations`` sequences of up
#: to ``max_prompt_tokens + max_new_tokens`` tokens; TRL keeps their float32 logits, ``vocab`` values per
#: token): 1,024 completions per prompt is 16x the largest GRPO group in the literature (64, DeepSeekMath,
#: arXiv:2402.03300) and the logits of one such group of 160-token SmolLM2 sequences already take 32 GB.
#: Token lengths are further bounded by the model's context (``max_position_embeddings``, checked in
#: :func:`aigc_rl.train.run_train` once the model is resolved). The seed is what numpy accepts (32 bits).
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "max_steps": (1, 10**9),
    "num_generations": (1, 1024),
    "prompts_per_step": (1, 1024),
    "max_new_tokens": (1, 131_072),
    "max_prompt_tokens": (1, 131_072),
    "logging_steps": (1, 10**9),
    "save_steps": (1, 10**9),
    "eval_prompts": (1, 1_000_000),
    "eval_samples": (1, 1024),
    "lora_r": (1, 4096),
    "lora_alpha": (1, 65_536),
    "n_envs": (1, 4096),
    "seed": (0, 2**32 - 1),
}
#: Bounds of the float fields: ``(low, low inclusive, high)``. A learning rate above 1 or a temperature
#: above 100 only produce overflow (``inf`` rewards/losses) on any model.
FLOAT_BOUNDS: dict[str, tuple[float, bool, float]] = {
    "learning_rate": (0.0, False, 1.0),
    "temperature": (0.0, False, 100.0),
    "beta": (0.0, True, 1000.0),
    "entropy_coef": (0.0, True, 10.0),
    "epsilon": (0.0, False, 10.0),
}
#: The choices of the string fields that TRL's ``GRPOConfig`` takes as they are (their meaning: TRL's docs).
CHOICES: dict[str, tuple[str, ...]] = {
    "loss_type": ("dapo", "grpo", "dr_grpo", "bnpo"),
    "scale_rewards": ("group", "batch", "none"),
    "multi_objective_aggregation": ("sum_then_normalize", "normalize_then_sum"),
    "composition": ("sum", "darling"),
    "vec_env": ("dummy", "subproc"),
}
#: Fields passed to TRL's ``GRPOConfig`` / ``RLOOConfig`` under the same name (RLOO lacks some; see
#: :meth:`TrainConfig.validate`).
TRL_FIELDS = (
    "loss_type",
    "scale_rewards",
    "multi_objective_aggregation",
    "entropy_coef",
    "use_adaptive_entropy",
    "epsilon",
    "epsilon_high",
    "mask_truncated_completions",
)
#: Of :data:`TRL_FIELDS`, those ``RLOOConfig`` (trl 1.16) does not have, with the value that means "off".
GRPO_ONLY: dict[str, Any] = {
    "loss_type": "dapo",
    "scale_rewards": "group",
    "multi_objective_aggregation": "sum_then_normalize",
    "entropy_coef": 0.0,
    "use_adaptive_entropy": False,
}
#: Fields that only reinforcement learning uses, with the value that means "not set": supervised fine-tuning
#: (``agent: sft``) refuses any other value, as RLOO refuses :data:`GRPO_ONLY`.
RL_ONLY: dict[str, Any] = {
    **GRPO_ONLY,
    "num_generations": 4,
    "beta": 0.04,
    "kl_target": None,
    "epsilon": 0.2,
    "epsilon_high": None,
    "mask_truncated_completions": False,
}
#: Fields that only supervised fine-tuning (``agent: sft``) uses, with their "not set" value.
SFT_ONLY: dict[str, Any] = {"sft_data": None, "full_finetune": False}
#: Fields ``--resume`` may change: they do not alter what the run has trained so far (``max_steps`` only
#: upward; ``device`` moves the rest of the run, e.g. onto a GPU; ``use_vllm`` changes only the generation
#: engine). Any other field given with ``--resume`` must
#: equal the run's recorded value.
RESUME_SAFE = (
    "max_steps",
    "device",
    "logging_steps",
    "save_steps",
    "eval_prompts",
    "eval_samples",
    "report_to",
    "use_vllm",
)
_RESUME_IGNORED = ("output_dir", "resume", "overwrite")


def recorded_config(run_dir: str | Path) -> dict[str, Any] | None:
    """The resolved config a run was trained with: ``run.json``'s ``config``, else ``config.yaml`` (0.1.0 runs).

    Args:
        run_dir: The run directory.

    Returns:
        The config fields (only :class:`TrainConfig` field names, plus ``kind``), or ``None`` when the directory
        holds neither file.

    Raises:
        ConfigError: the file exists but is not readable as a mapping.
    """
    from .run import RunDir

    rd = RunDir(run_dir)
    data: Any = None
    if rd.record_path.is_file():
        try:
            data = rd.read_record().get("config")
        except UserInputError as e:
            raise ConfigError(str(e)) from None
        source = rd.record_path
    elif (rd.path / "config.yaml").is_file():
        source = rd.path / "config.yaml"
        try:
            data = yaml.safe_load(source.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise ConfigError(f"{source} is not valid YAML: {' '.join(str(e).split())}") from None
    else:
        return None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} must hold a mapping of field: value (a run config), got {type(data).__name__}"
        )
    keep = set(TrainConfig.field_names()) | {"kind"}
    return {k: v for k, v in data.items() if k in keep}


@dataclass
class TrainConfig:
    """Everything a training run needs. Saved, resolved, as ``config.yaml`` in the run directory."""

    env: str = field(default="aigc_rl/TextCompletion-v0", metadata={"help": "environment id (text or image)"})
    model: str = field(
        default="smollm2-135m-instruct", metadata={"help": "hub id, local dir or embedded name"}
    )
    init: str | None = field(
        default=None,
        metadata={
            "help": "start from a fine-tuned policy: a run directory (its adapter/ or model/), a PEFT adapter or a "
            "full model directory; it is copied into RUN/init/ and is the KL reference (text runs)"
        },
    )
    task: str = field(default="content", metadata={"help": "shipped prompt set: content, support, education"})
    prompts: str | None = field(
        default=None,
        metadata={
            "help": "your own prompts: a .jsonl/.csv/.txt/.parquet/.arrow file, a datasets save_to_disk "
            "directory (DIR:SPLIT for a DatasetDict) or a Hub dataset id owner/name[:SPLIT] (hub reachable only)"
        },
    )
    prompt_column: str = field(
        default="prompt", metadata={"help": "the column (JSONL field) of --prompts holding the prompt text"}
    )
    reference_columns: str | list[str] | None = field(
        default=None,
        metadata={
            "help": "comma list of --prompts columns gathered into the 'references' that bleu/chrf/rouge-l read"
        },
    )
    reward: str = field(
        default=DEFAULT_TEXT_REWARD,
        metadata={"help": "reward spec, e.g. quality+creativity or relevance:1,distinct-2:0.5"},
    )
    normalize: str = field(
        default="none", metadata={"help": "per-component normalisation: none, batch, group"}
    )
    agent: str | None = field(
        default=None,
        metadata={
            "help": "grpo, rloo or sft (text, default grpo; sft = `aigc-rl sft`); ppo, sac or a2c (image, default sac)"
        },
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
    learning_rate: float | None = field(
        default=None,
        metadata={
            "help": f"AdamW learning rate of the LoRA adapter (default {RL_LEARNING_RATE:g} for grpo and rloo, "
            f"{SFT_LEARNING_RATE:g} for sft)"
        },
    )
    num_generations: int = field(default=4, metadata={"help": "completions per prompt (the GRPO group)"})
    prompts_per_step: int = field(default=2, metadata={"help": "prompts per optimiser step (per process)"})
    max_new_tokens: int = field(default=32, metadata={"help": "completion length limit in tokens"})
    max_prompt_tokens: int = field(
        default=128, metadata={"help": "prompt length limit, chat template included"}
    )
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature of rollouts"})
    beta: float = field(default=0.04, metadata={"help": "KL penalty coefficient to the frozen reference"})
    kl_target: float | None = field(
        default=None,
        metadata={
            "help": "adaptive KL controller (Ziegler et al. 2019): adjust beta each step toward this KL to the "
            "reference, in nats/token (e.g. 0.05); unset = fixed beta"
        },
    )
    composition: str = field(
        default="sum",
        metadata={
            "help": "how reward components combine: sum (weighted sum) or darling (quality x diversity, "
            "DARLING, arXiv:2509.02534)"
        },
    )
    loss_type: str = field(
        default="dapo", metadata={"help": "TRL loss aggregation: dapo, grpo, dr_grpo, bnpo (GRPO only)"}
    )
    scale_rewards: str = field(
        default="group",
        metadata={"help": "advantage scaling by the reward std: group, batch, none (GRPO only)"},
    )
    multi_objective_aggregation: str | None = field(
        default=None,
        metadata={
            "help": "several reward components: sum_then_normalize, or normalize_then_sum (each component "
            "normalised in its group, then summed; GRPO only; default normalize_then_sum for grpo, "
            "sum_then_normalize otherwise)"
        },
    )
    entropy_coef: float = field(
        default=0.0, metadata={"help": "entropy bonus coefficient in the loss (GRPO only)"}
    )
    use_adaptive_entropy: bool = field(
        default=False,
        metadata={"help": "adapt entropy_coef toward TRL's entropy_target (Skywork-OR1; GRPO only)"},
    )
    epsilon: float = field(default=0.2, metadata={"help": "PPO clipping range (lower bound)"})
    epsilon_high: float | None = field(
        default=None, metadata={"help": "upper clipping bound (DAPO clip-higher, e.g. 0.28); unset = epsilon"}
    )
    mask_truncated_completions: bool = field(
        default=False,
        metadata={"help": "leave completions cut off at max_new_tokens out of the loss (DAPO)"},
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha"})
    # supervised fine-tuning (agent sft)
    sft_data: str | None = field(
        default=None,
        metadata={
            "help": "sft: demonstrations, a task name (content, support, education: the shipped demos), a "
            ".jsonl/.csv of prompt + completion (or JSONL chat messages), or a datasets save_to_disk "
            "directory; unset = the --task's demos"
        },
    )
    full_finetune: bool = field(
        default=False,
        metadata={"help": "sft: train every weight and save model/ instead of a LoRA adapter/"},
    )
    logging_steps: int = field(default=1, metadata={"help": "log every N steps to metrics.jsonl"})
    save_steps: int = field(default=20, metadata={"help": "checkpoint every N steps"})
    # evaluation
    eval_prompts: int = field(default=60, metadata={"help": "held-out prompts used by `aigc-rl eval`"})
    eval_samples: int = field(
        default=EVAL_SAMPLES, metadata={"help": "completions per held-out prompt and policy"}
    )
    # image settings
    generator: str = field(
        default="gan", metadata={"help": "image generator: gan, vae or a weights directory"}
    )
    n_envs: int = field(default=8, metadata={"help": "parallel envs (image agents)"})
    vec_env: str = field(
        default="dummy",
        metadata={
            "help": "image runs: dummy (the n_envs in this process, one generator call per step) or subproc "
            "(SB3 SubprocVecEnv, one process per env)"
        },
    )
    # runtime
    report_to: str = field(
        default="none",
        metadata={
            "help": "experiment trackers: none, tensorboard (event files in RUN/tb), wandb, or a comma list; "
            "text runs take any name transformers accepts"
        },
    )
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda"})
    use_vllm: bool = field(
        default=False,
        metadata={
            "help": "text runs: generate rollouts with vLLM on the training GPU (TRL's colocate mode); needs a "
            "GPU and vllm installed"
        },
    )
    resume: bool = field(
        default=False,
        metadata={
            "help": "continue the run in output_dir from its newest complete checkpoint, with the run's own "
            "config; only --max-steps (upward), --device, --use-vllm, --logging-steps, --save-steps, --eval-prompts and "
            "--eval-samples may be given to change it"
        },
    )
    overwrite: bool = field(
        default=False,
        metadata={
            "help": "replace the aigc-rl run in output_dir (only its own files are removed; a directory without "
            "a run record is never touched)"
        },
    )

    @property
    def kind(self) -> str:
        return "image" if self.env in IMAGE_ENVS else "text"

    def __post_init__(self) -> None:
        if self.agent is None:
            self.agent = "sac" if self.kind == "image" else "grpo"
        if self.max_steps is None:
            self.max_steps = IMAGE_MAX_STEPS if self.kind == "image" else TEXT_MAX_STEPS
        if self.kind == "image" and self.reward == DEFAULT_TEXT_REWARD:
            self.reward = "quality+creativity"  # the image presets (IMAGE_DEFAULT_SPEC)
        if self.composition is None:  # a config file written before sum became the plain default
            self.composition = "sum"
        if self.learning_rate is None:
            self.learning_rate = SFT_LEARNING_RATE if self.agent == "sft" else RL_LEARNING_RATE
        if self.multi_objective_aggregation is None:
            grpo = self.kind == "text" and self.agent == "grpo"
            self.multi_objective_aggregation = "normalize_then_sum" if grpo else "sum_then_normalize"
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
        for name, (lo, hi) in INT_BOUNDS.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                rng = f">= {lo}" if hi == 10**9 else f"in {lo}..{hi}"
                raise ConfigError(f"{name} must be an integer {rng}, got {v!r} (--{name.replace('_', '-')})")
        if self.kind == "text" and self.agent != "sft" and self.num_generations < 2:
            raise ConfigError(
                f"num_generations must be >= 2 for {self.agent} (group advantages), got {self.num_generations}"
            )
        for name, (f_lo, closed, f_hi) in FLOAT_BOUNDS.items():
            v = getattr(self, name)
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            if not ok or not (f_lo <= v if closed else f_lo < v) or v > f_hi:
                what = "a positive number" if not closed else f"a number >= {f_lo:g}"
                raise ConfigError(
                    f"{name} must be {what} and <= {f_hi:g}, got {v!r} (--{name.replace('_', '-')})"
                )
        for name, choices in CHOICES.items():
            if getattr(self, name) not in choices:
                raise ConfigError(
                    f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r} "
                    f"(--{name.replace('_', '-')})"
                )
        for name in ("use_adaptive_entropy", "mask_truncated_completions", "use_vllm"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name, (f_lo, f_hi) in (("kl_target", (0.0, 100.0)), ("epsilon_high", (0.0, 10.0))):
            v = getattr(self, name)
            if v is None:
                continue
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            if not ok or not f_lo < v <= f_hi:
                raise ConfigError(
                    f"{name} must be a positive number <= {f_hi:g} or unset, got {v!r} "
                    f"(--{name.replace('_', '-')})"
                )
        if self.kl_target is not None and self.beta == 0:
            raise ConfigError(
                "kl_target adapts beta, which must start above 0 (beta 0 loads no reference model): give "
                "--beta, e.g. 0.04, or drop --kl-target"
            )
        if self.kind == "text" and self.agent == "rloo":
            changed = [n for n, off in GRPO_ONLY.items() if getattr(self, n) != off]
            if changed:
                raise ConfigError(
                    f"{', '.join(changed)}: TRL's RLOO has no such option (GRPO only); use --agent grpo or drop "
                    + ", ".join(f"--{n.replace('_', '-')}" for n in changed)
                )
        self._validate_sft()
        self._validate_reward()
        self._validate_sources()
        if self.normalize not in ("none", "batch", "group"):
            raise ConfigError(f"normalize must be none, batch or group, got {self.normalize!r}")
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ConfigError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.use_vllm and self.kind != "text":
            raise ConfigError(f"use_vllm applies to text runs (TRL), not to {self.env}; drop --use-vllm")
        if self.resume and self.overwrite:
            raise ConfigError("--resume and --overwrite exclude each other: pick one")
        if self.init is not None and (self.kind != "text" or not isinstance(self.init, str) or not self.init):
            raise ConfigError(
                f"init must be a directory path of a text run, got {self.init!r} for {self.env} (--init)"
            )

    def _validate_sources(self) -> None:
        """``report_to``, ``prompt_column`` and ``reference_columns`` (their syntax; installed packages and the
        columns of the prompt source are checked when the run starts)."""
        from .tracking import parse_report_to

        parse_report_to(self.report_to, self.kind)
        if not isinstance(self.prompt_column, str) or not self.prompt_column.strip():
            raise ConfigError(
                f"prompt_column must be a column name, got {self.prompt_column!r} (--prompt-column)"
            )
        if self.prompt_column in ("id", "split", "references"):
            raise ConfigError(
                f"prompt_column {self.prompt_column!r} is a column aigc-rl sets itself; name the column of the "
                "prompt text (--prompt-column)"
            )
        cols = self.reference_column_list
        if self.reference_columns is not None and (not cols or self.prompt_column in cols):
            raise ConfigError(
                f"reference_columns must be a comma list of column names other than the prompt column, got "
                f"{self.reference_columns!r} (--reference-columns)"
            )

    @property
    def reference_column_list(self) -> list[str]:
        """``reference_columns`` as a list (a comma string or a YAML list)."""
        v = self.reference_columns
        if v is None:
            return []
        items = v if isinstance(v, (list, tuple)) else str(v).split(",")
        return [str(c).strip() for c in items if str(c).strip()]

    def _validate_sft(self) -> None:
        """Refuse RL-only fields for ``agent: sft`` and SFT-only fields for the RL agents.

        Raises:
            ConfigError: naming the fields and the fix.
        """
        if not isinstance(self.full_finetune, bool):
            raise ConfigError(f"full_finetune must be true or false, got {self.full_finetune!r}")
        if self.sft_data is not None and (not isinstance(self.sft_data, str) or not self.sft_data.strip()):
            raise ConfigError(
                f"sft_data must be a task name or a path, got {self.sft_data!r} (--sft-data); drop it to use "
                "the --task's demonstrations"
            )
        if self.agent == "sft":
            changed = [n for n, off in RL_ONLY.items() if getattr(self, n) != off]
            if changed:
                raise ConfigError(
                    f"{', '.join(changed)}: reinforcement-learning options, which supervised fine-tuning does "
                    "not use; drop " + ", ".join(f"--{n.replace('_', '-')}" for n in changed)
                )
        else:
            changed = [n for n, off in SFT_ONLY.items() if getattr(self, n) != off]
            if changed:
                raise ConfigError(
                    f"{', '.join(changed)}: supervised fine-tuning options; use `aigc-rl sft` (--agent sft) or "
                    "drop " + ", ".join(f"--{n.replace('_', '-')}" for n in changed)
                )

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
        if self.composition == "darling" and self.kind == "text":
            from aigc_rl.rewards.registry import names, reward_info

            pairs = parse_spec(self.reward)
            kinds = [reward_info(n).kind if n in names() else None for n, _ in pairs]
            if "creativity" not in kinds or all(k == "creativity" for k in kinds):
                raise ConfigError(
                    f"--composition darling multiplies quality by diversity: --reward {self.reward!r} needs at "
                    "least one creativity component (e.g. embedding-diversity) and one quality component; add "
                    "them or use --composition sum"
                )

    def resolved_output_dir(self) -> Path:
        if self.output_dir:
            return Path(self.output_dir)
        from .prompts import source_name

        name = f"{self.task if not self.prompts else source_name(self.prompts)}-{self.agent}-seed{self.seed}"
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
        from .run import atomic_write_text

        atomic_write_text(path, yaml.safe_dump(d, sort_keys=False))

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def check_resume(self, recorded: dict[str, Any]) -> None:
        """Refuse a resumed config that differs from the run's recorded one outside :data:`RESUME_SAFE`.

        Args:
            recorded: :func:`recorded_config` of the run.

        Raises:
            ConfigError: naming the first field that differs (or ``max_steps`` lowered) and the fix.
        """
        derived = ("model", "task") if recorded.get("kind") == "image" else ()  # written as "gan (digits)"
        for name in self.field_names():
            if name in _RESUME_IGNORED or name in derived or name not in recorded:
                continue
            new, old = getattr(self, name), recorded[name]
            if name == "max_steps":
                if isinstance(old, int) and new < old:
                    raise ConfigError(
                        f"--resume: max_steps may only be raised: the run was started with {old}, got {new} "
                        "(--max-steps)"
                    )
                continue
            if name in RESUME_SAFE or new == old:
                continue
            raise ConfigError(
                f"--resume: {name} is {new!r} but the run was trained with {old!r}; a resumed run keeps its "
                f"own config (only {', '.join(RESUME_SAFE)} may change): drop --{name.replace('_', '-')}, or "
                "start a new run in another --output-dir"
            )

    @classmethod
    def read_yaml(cls, path: str | Path) -> dict[str, Any]:
        """The fields of a YAML config file (``kind`` and ``saved_at`` of a saved run config are dropped).

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
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> TrainConfig:
        """Build a config from field values (``kind`` and ``saved_at`` are ignored).

        Raises:
            ConfigError: a key that is not a field, or an invalid value.
        """
        data = {k: v for k, v in data.items() if k not in ("kind", "saved_at")}
        try:
            return cls(**data)
        except TypeError as e:
            raise ConfigError(f"{source}: {e}") from None

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        """Load a YAML config and apply ``overrides`` (CLI flags that were given).

        Raises:
            ConfigError: unreadable/malformed YAML, or a key that is not a config field (lists the fields).
        """
        data = cls.read_yaml(path)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(data, source=str(path))
