"""Train an SB3 agent (PPO, SAC, A2C) on ``aigc_rl/LatentImage-v0`` inside an aigc-rl run directory.

Algorithms: PPO (Schulman et al. 2017), SAC (Haarnoja et al. 2018), A2C (Mnih et al. 2016), as implemented by
stable-baselines3 (Raffin et al. 2021), on the native batched env through
:class:`~aigc_rl.agents.sb3.vec_env.LatentVecEnv`.

The run directory follows :mod:`aigc_rl.run` (see ``docs/images.md``):

* ``run.json`` — the run record (``kind: image``; status ``running`` -> ``finished`` | ``interrupted`` |
  ``failed``); ``config.yaml`` — the resolved config; ``latent.json`` — env arguments, reward spec,
  hyperparameters and checkpoint interval actually used. All written atomically.
* ``.lock`` — held for the whole training (a second writer exits 2 naming this process).
* ``metrics.jsonl`` — one strict-JSON line per ``log_interval`` env steps (:class:`aigc_rl.run.MetricsWriter`):
  ``{"step", "reward", "rewards/<component>/mean", "episodes", "time_s", "steps_per_s"}``; on resume cut back
  to the checkpoint's step, so every step appears once.
* ``checkpoints/checkpoint-N/`` — every ``save_steps`` env steps and at the end, written completely or not at
  all (:mod:`aigc_rl.agents.sb3.train_state`); ``resume`` continues from the newest complete one and gives
  the same policy tensors as an uninterrupted run.
* ``policy.safetensors`` + ``policy.json`` — the final policy (no pickle; handed case G1, DLR-RM/stable-baselines3#1852).

Signals: the first SIGINT or SIGTERM lets the current rollout and update finish, saves a checkpoint, records
``"status": "interrupted"`` and raises :class:`aigc_rl.run.TrainingInterrupted` (its message says how to
resume); a second one aborts at once (complete checkpoints are kept).
"""

from __future__ import annotations

import dataclasses
import json
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

from aigc_rl.envs.image.latent_image import LatentImageTask, LatentImageVectorEnv
from aigc_rl.errors import ConfigError, RunDirError
from aigc_rl.rewards.spec import image_reward_pairs
from aigc_rl.run import (
    MetricsWriter,
    RunDir,
    TrainingInterrupted,
    atomic_write_json,
    atomic_write_text,
    graceful_signals,
    latest_complete_checkpoint,
    run_record,
)
from aigc_rl.tracking import TB_DIR, parse_report_to, require_trackers

from .policy_io import ALGOS, ENV_ID, build_model, save_policy
from .tracking import TensorBoardRows, WandbCallback
from .train_state import checkpoint_step, clean_incomplete_checkpoints, load_checkpoint, save_checkpoint
from .vec_env import LatentSubprocVecEnv, LatentVecEnv

__all__ = ["DEFAULT_HYPERPARAMETERS", "IMAGE_SAVE_STEPS", "VEC_ENVS", "train_latent", "check_batch_sizes"]

#: Hyperparameters tuned for the single-step latent env (a contextual bandit: gamma does not matter there,
#: it does in ``walk`` mode). ``policy_kwargs`` holds JSON values only; ``activation_fn`` is a torch.nn name.
DEFAULT_HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "sac": {
        "learning_rate": 1e-3,
        "buffer_size": 100_000,
        "learning_starts": 1000,
        "batch_size": 256,
        "tau": 0.005,
        "gamma": 0.99,
        "train_freq": 1,
        "gradient_steps": -1,
        "ent_coef": "auto",
        "policy_kwargs": {"net_arch": [256, 256]},
    },
    "ppo": {
        "learning_rate": 3e-4,
        "n_steps": 128,
        "batch_size": 256,
        "n_epochs": 10,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "ent_coef": 0.0,
        "policy_kwargs": {"net_arch": [256, 256]},
    },
    "a2c": {
        "learning_rate": 7e-4,
        "n_steps": 8,
        "gamma": 0.99,
        "ent_coef": 0.0,
        "policy_kwargs": {"net_arch": [256, 256]},
    },
}

#: Env steps between checkpoints of an image run when ``save_steps`` is not given (10 checkpoints in the
#: default 20,000 steps; each holds the replay buffer, a few MB).
IMAGE_SAVE_STEPS = 2000

# What a resumed run must share with the run it continues (anything else would change its trajectory).
_RESUME_FIXED = ("agent", "seed", "reward", "generator", "n_envs", "vec_env", "env_kwargs", "hyperparameters")
#: ``--vec-env`` choices: the n envs batched in this process, or SB3's SubprocVecEnv (one process per env).
VEC_ENVS = ("dummy", "subproc")


def check_batch_sizes(agent: str, hp: Mapping[str, Any], n_envs: int) -> None:
    """Reject PPO minibatches of one sample before training (handed case B3, stable-baselines3 #325,
    https://github.com/DLR-RM/stable-baselines3/issues/325).

    Advantage normalisation over one sample divides by a zero standard deviation; SB3 skips it for a
    leftover minibatch of one, but a configured ``batch_size`` of 1 would train without it silently.

    Raises:
        ConfigError: naming ``batch_size`` / ``n_steps`` and the fix.
    """
    if agent != "ppo":
        return
    bs = int(hp.get("batch_size", 64))
    rollout = int(hp.get("n_steps", 2048)) * n_envs
    if bs < 2:
        raise ConfigError(
            f"PPO batch_size must be >= 2 (advantages are normalised per minibatch), got {bs}; raise batch_size"
        )
    if rollout % bs == 1:
        raise ConfigError(
            f"PPO rollout of n_steps * n_envs = {rollout} samples leaves a minibatch of 1 with batch_size={bs}; "
            "choose a batch_size that divides n_steps * n_envs"
        )


class _StopTraining(Exception):
    """Raised between rollouts once a checkpoint is saved after a signal."""


class _StopFlag:
    requested: int | None = None


class _TrainCallback(BaseCallback):
    """Metrics lines every ``log_interval`` env steps, checkpoints every ``save_steps``, stop on a signal.

    Checkpoints are taken in ``_on_rollout_start``: after SB3's update of the previous rollout and before the
    next env step, where the replay buffer, ``_last_obs`` and the random states describe one moment
    (``_on_step`` runs before SB3 stores the step's transition).
    """

    def __init__(
        self,
        metrics: MetricsWriter,
        log_interval: int,
        save_steps: int,
        total: int,
        start: int,
        progress: bool,
        save_fn: Any,
        flag: _StopFlag,
        loop_state: Mapping[str, Any] | None,
        sinks: tuple[Any, ...] = (),
    ) -> None:
        super().__init__()
        from tqdm.auto import tqdm

        from aigc_rl.progress import tqdm_disabled

        self.metrics = metrics
        self.sinks = sinks  # trackers (--report-to): each row also goes to their log_row
        self.log_interval = log_interval
        self.save_steps = save_steps
        self.save_fn = save_fn
        self.flag = flag
        self.bar = tqdm(
            total=total,
            initial=start,
            desc="train latent policy",
            unit="step",
            disable=tqdm_disabled(progress),
        )
        self.last_saved = start
        self._next_save = (start // save_steps + 1) * save_steps
        self._t0 = self._t_last = time.time()
        self._steps_last = start
        st = dict(loop_state or {})
        self._next_log = int(st.get("next_log", (start // log_interval + 1) * log_interval))
        self.sum_r = float(st.get("sum_r", 0.0))
        self.n = int(st.get("n", 0))
        self.episodes = int(st.get("episodes", 0))
        self.comp_sum: dict[str, float] = {k: float(v) for k, v in st.get("comp_sum", {}).items()}
        self.comp_n: dict[str, int] = {k: int(v) for k, v in st.get("comp_n", {}).items()}

    def state(self) -> dict[str, Any]:
        """The accumulators of the metrics line in progress (saved in each checkpoint)."""
        return {
            "next_log": self._next_log,
            "sum_r": self.sum_r,
            "n": self.n,
            "episodes": self.episodes,
            "comp_sum": dict(self.comp_sum),
            "comp_n": dict(self.comp_n),
        }

    def _reset_acc(self) -> None:
        self.sum_r, self.n, self.episodes = 0.0, 0, 0
        self.comp_sum, self.comp_n = {}, {}

    def _on_rollout_start(self) -> None:
        step = int(self.model.num_timesteps)
        if self.flag.requested is not None:
            if step > self.last_saved:
                self.save_fn(self.state())
                self.last_saved = step
            raise _StopTraining
        if step >= self._next_save and step > self.last_saved:
            self.save_fn(self.state())
            self.last_saved = step
            self._next_save = (step // self.save_steps + 1) * self.save_steps

    def _on_step(self) -> bool:
        rewards = self.locals.get("rewards")
        infos = self.locals.get("infos", [])
        dones = self.locals.get("dones")
        if rewards is not None:
            self.sum_r += float(np.sum(rewards))
            self.n += len(rewards)
        if dones is not None:
            self.episodes += int(np.sum(dones))
        for info in infos:
            for k, v in info.get("rewards", {}).items():
                if v is not None and not k.endswith("/weighted"):
                    self.comp_sum[k] = self.comp_sum.get(k, 0.0) + float(v)
                    self.comp_n[k] = self.comp_n.get(k, 0) + 1
        self.bar.update(self.model.num_timesteps - self.bar.n)
        if self.model.num_timesteps >= self._next_log:
            self._write()
            while self._next_log <= self.model.num_timesteps:
                self._next_log += self.log_interval
        return True

    def _write(self) -> None:
        if self.n == 0:
            return
        now = time.time()
        row: dict[str, Any] = {"step": int(self.model.num_timesteps), "reward": self.sum_r / self.n}
        for k in sorted(self.comp_sum):
            row[f"rewards/{k}/mean"] = self.comp_sum[k] / max(self.comp_n[k], 1)
        row["episodes"] = self.episodes
        row["time_s"] = round(now - self._t0, 2)
        row["steps_per_s"] = round(
            (self.model.num_timesteps - self._steps_last) / max(now - self._t_last, 1e-9), 1
        )
        self.metrics.write(row)
        for sink in self.sinks:
            sink.log_row(row)
        self._t_last, self._steps_last = now, self.model.num_timesteps
        self._reset_acc()

    def finish(self) -> None:
        """Write the last (partial) metrics line and close the progress bar."""
        self._write()
        self.bar.close()


def _warm_up(task: LatentImageTask) -> None:
    """Score one image before anything is seeded, so that rewards which load their models lazily (building a
    torch module draws from the global RNG) do it now, in a new run and in a resumed one alike; without this
    a run resumed in a new process would draw differently from the uninterrupted one."""
    z = np.zeros((1, task.latent_dim), dtype=np.float32)
    task.score(task.generate(z), np.zeros(1, dtype=np.int64))
    task.clear_memory()


def _field_default(cfg: Any, name: str) -> Any:
    """The dataclass default of field ``name`` of ``cfg`` (``dataclasses.MISSING`` when there is none)."""
    if dataclasses.is_dataclass(cfg):
        for f in dataclasses.fields(cfg):
            if f.name == name:
                return f.default
    return dataclasses.MISSING


def _image_save_steps(value: Any, text_default: Any) -> int:
    """Env steps between checkpoints: ``value``, or :data:`IMAGE_SAVE_STEPS` when not given.

    A config object's ``save_steps`` equal to its dataclass default (the text default, counted in optimiser
    steps) counts as not given.

    Raises:
        ConfigError: not an integer >= 1.
    """
    if value is None or (text_default is not dataclasses.MISSING and value == text_default):
        return IMAGE_SAVE_STEPS
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"save_steps must be an integer >= 1 (env steps), got {value!r} (--save-steps)")
    return value


def _int_arg(name: str, value: Any, low: int, high: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not low <= int(value) <= high:
        raise ConfigError(
            f"{name} must be an integer in {low}..{high}, got {value!r} (--{name.replace('_', '-')})"
        )
    return int(value)


def _check_resume(recorded: Mapping[str, Any], given: Mapping[str, Any], meta_path: Path) -> None:
    """Refuse to resume with settings that would change the run's trajectory.

    Raises:
        ConfigError: naming the first field that differs from the run's record.
    """
    for name in _RESUME_FIXED:
        if name in recorded and given.get(name) is not None and given[name] != recorded[name]:
            raise ConfigError(
                f"--resume continues the run in {meta_path.parent} with its recorded {name}="
                f"{json.dumps(recorded[name])}; got {json.dumps(given[name])}. Drop the setting, or start a new "
                "run (another --output-dir)"
            )


def train_latent(
    env_id: Any = ENV_ID,
    agent: str = "sac",
    max_steps: int = 20_000,
    seed: int = 0,
    output_dir: str | Path | None = None,
    reward: str | None = None,
    generator: str = "gan",
    n_envs: int = 8,
    resume: bool = False,
    overwrite: bool = False,
    *,
    vec_env: str = "dummy",
    env_kwargs: Mapping[str, Any] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    log_interval: int = 1000,
    save_steps: int | None = None,
    progress: bool = True,
    save_zip: bool = False,
    device: str = "cpu",
    report_to: str | list[str] = "none",
) -> Path:
    """Train an SB3 agent on ``aigc_rl/LatentImage-v0`` and write the run directory.

    Args:
        env_id: ``"aigc_rl/LatentImage-v0"``, or an :class:`aigc_rl.config.TrainConfig` (``kind: image``) whose
            fields (env, agent, max_steps, seed, output_dir, reward, generator, n_envs, vec_env, resume,
            overwrite, device, save_steps) replace the arguments below.
        agent: ``"sac"`` (default, best here), ``"ppo"`` or ``"a2c"``.
        max_steps: Env steps in total over all sub-environments (>= 1). SB3 steps all ``n_envs`` at once
            (and PPO/A2C whole rollouts), so the run may end a little past it.
        seed: Seeds SB3 (torch, numpy, Python, the action space) and the env; ``0 .. 2**32 - 1``.
        output_dir: Run directory; default ``runs/latent-image-<generator>-<agent>-seed<seed>``.
        reward: Image reward spec (``None`` = the env default; ``quality`` / ``creativity`` presets mean
            ``target-class:1+realism:5`` / ``image-diversity:3``).
        generator: ``"gan"`` | ``"vae"`` | a model directory.
        n_envs: Sub-environments (``dummy``: of the batched env, one generator call per step for all of them;
            ``subproc``: processes).
        resume: Continue the run in ``output_dir`` from its newest complete checkpoint (from step 0 when it
            has none); the result equals an uninterrupted run with the same settings.
        overwrite: Replace a run already in ``output_dir`` (only the files aigc-rl wrote are removed).
        vec_env: ``"dummy"``: the ``n_envs`` envs batched in this process
            (:class:`~aigc_rl.agents.sb3.vec_env.LatentVecEnv`); ``"subproc"``: one process per env
            (:class:`~aigc_rl.agents.sb3.vec_env.LatentSubprocVecEnv`, SB3's ``SubprocVecEnv``; its group
            rewards compare samples within each process).
        env_kwargs: Other :class:`~aigc_rl.envs.image.latent_image.LatentImageTask` arguments (mode, ...).
        hyperparameters: Overrides of :data:`DEFAULT_HYPERPARAMETERS` for the agent (JSON values).
        log_interval: Env steps between ``metrics.jsonl`` lines.
        save_steps: Env steps between checkpoints (default :data:`IMAGE_SAVE_STEPS`; a
            ``TrainConfig.save_steps`` left at its text default counts as not given).
        progress: tqdm progress bar.
        save_zip: Also write SB3's ``sb3_model.zip`` (contains pickle; never loaded by default).
        device: torch device of the agent (``"auto"`` means CUDA when available).
        report_to: Trackers of the metrics rows: ``"none"``, ``"tensorboard"`` (SB3's ``tensorboard_log``, event
            files in ``RUN/tb``), ``"wandb"`` (:class:`~aigc_rl.agents.sb3.tracking.WandbCallback`) or a comma
            list.

    Returns:
        The run directory.

    Raises:
        ConfigError: unknown env id / agent, a bad number, a bad reward spec, a PPO minibatch of one, an unknown
            tracker or one whose package is missing (naming the install), or ``resume`` with settings that
            differ from the run's record.
        RunDirError: ``output_dir`` holds a run and neither ``resume`` nor ``overwrite`` is set, ``resume``
            without a run, ``overwrite`` of a directory of other files, or both flags.
        RunLockedError: another process is writing the run.
        TrainingInterrupted: a SIGINT/SIGTERM stopped training after a checkpoint was saved.
    """
    cfg_obj: Any = None
    if not isinstance(env_id, str):
        cfg_obj = env_id
        cfg = cfg_obj.to_dict() if hasattr(cfg_obj, "to_dict") else dict(cfg_obj)
        env_id = cfg["env"]
        agent = cfg.get("agent") or agent
        max_steps = cfg.get("max_steps", max_steps)
        seed = cfg.get("seed", seed)
        output_dir = cfg.get("output_dir") or output_dir
        generator = cfg.get("generator", generator)
        n_envs = cfg.get("n_envs", n_envs)
        vec_env = cfg.get("vec_env", vec_env)
        resume = bool(cfg.get("resume", resume))
        overwrite = bool(cfg.get("overwrite", overwrite))
        device = cfg.get("device", device)
        reward = cfg.get("reward") or reward
        save_steps = _image_save_steps(cfg.get("save_steps"), _field_default(cfg_obj, "save_steps"))
        report_to = cfg.get("report_to", report_to)
    # -- check every input before the run directory is touched ------------------------------------------
    if env_id != ENV_ID:
        raise ConfigError(
            f"train_latent trains {ENV_ID!r}, got env {env_id!r} (text envs train with TRL agents) (--env)"
        )
    if agent not in ALGOS:
        raise ConfigError(f"unknown agent {agent!r} for {ENV_ID}; available: {', '.join(ALGOS)} (--agent)")
    max_steps = _int_arg("max_steps", max_steps, 1, 10**9)
    n_envs = _int_arg("n_envs", n_envs, 1, 4096)
    if vec_env not in VEC_ENVS:
        raise ConfigError(f"vec_env must be one of {', '.join(VEC_ENVS)}, got {vec_env!r} (--vec-env)")
    seed = _int_arg("seed", seed, 0, 2**32 - 1)
    log_interval = _int_arg("log_interval", log_interval, 1, 10**9)
    save_steps = _image_save_steps(save_steps, dataclasses.MISSING)
    if resume and overwrite:
        raise RunDirError("--resume and --overwrite exclude each other: pick one")
    trackers = parse_report_to(report_to, "image")
    require_trackers(trackers)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        pairs = image_reward_pairs(reward)
    except ValueError as e:  # a bad spec is the user's: one line, exit 2
        raise ConfigError(f"{e} (--reward)") from None
    spec = "+".join(f"{n}:{w:g}" for n, w in pairs)
    hp = json.loads(json.dumps(DEFAULT_HYPERPARAMETERS[agent]))
    for k, v in (hyperparameters or {}).items():
        if k == "policy_kwargs":
            hp["policy_kwargs"] = {**hp.get("policy_kwargs", {}), **dict(v)}
        else:
            hp[k] = v
    ekw = json.loads(json.dumps(dict(env_kwargs or {})))
    check_batch_sizes(agent, hp, n_envs)
    run_dir = (
        Path(output_dir)
        if output_dir
        else Path("runs") / f"latent-image-{Path(str(generator)).name}-{agent}-seed{seed}"
    )
    from aigc_rl.rewards.base import FunctionReward, RewardModel
    from aigc_rl.rewards.composite import make_composite
    from aigc_rl.rewards.image import ImageRewardModel

    reward_model = make_composite(pairs)
    text_only = [  # rewards that turn completions into text cannot score images: refuse before writing anything
        r.name
        for r, _ in reward_model.components
        if not isinstance(r, (ImageRewardModel, FunctionReward)) and type(r).raw is RewardModel.raw
    ]
    if text_only:
        raise ConfigError(
            f"reward {', '.join(map(repr, text_only))} scores text, not images; image runs take target-class, "
            "realism, image-diversity, class-coverage, image-novelty (--reward)"
        )
    meta_path = run_dir / "latent.json"
    recorded_meta: dict[str, Any] | None = None
    if resume and meta_path.is_file():
        try:
            recorded_meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise RunDirError(f"--resume: {meta_path} is unreadable ({e})") from None
        given = {
            "agent": agent,
            "seed": seed,
            "reward": spec,
            "generator": str(generator),
            "n_envs": n_envs,
            "vec_env": vec_env,
            "env_kwargs": ekw if env_kwargs is not None else None,
            "hyperparameters": hp if hyperparameters is not None else None,
        }
        _check_resume({"vec_env": "dummy", **recorded_meta}, given, meta_path)  # older runs: dummy
        hp = recorded_meta.get("hyperparameters", hp)
        ekw = recorded_meta.get("env_kwargs", ekw)
    task = LatentImageTask(generator=generator, reward=reward_model, device="cpu", **ekw)
    _warm_up(task)  # also checks the generator here, before any worker process starts

    # -- the run directory ----------------------------------------------------------------------------------
    rd = RunDir(run_dir)
    if resume and rd.holds_run() and not rd.record_path.is_file():
        raise RunDirError(
            f"--resume: {run_dir} was written by aigc-rl 0.1.0 (no run.json, no complete checkpoints) and cannot "
            "be continued exactly; start a new run in another --output-dir, or replace it with --overwrite"
        )
    venv: LatentVecEnv | LatentSubprocVecEnv
    if vec_env == "subproc":
        venv = LatentSubprocVecEnv(n_envs, str(generator), spec, ekw)
    else:
        venv = LatentVecEnv(LatentImageVectorEnv(n_envs, latent_task=task))
    flag = _StopFlag()
    # From here on a SIGINT/SIGTERM stops training at the next rollout boundary, after a checkpoint.
    with graceful_signals(flag, unit="update"):
        try:
            rd.prepare(resume=resume, overwrite=overwrite)
        except BaseException:
            venv.close()  # stops the worker processes of a subproc env
            raise
        try:
            return _train_in_run_dir(
                rd,
                flag=flag,
                cfg=_config_dict(
                    cfg_obj,
                    {
                        "generator": generator,
                        "spec": spec,
                        "agent": agent,
                        "max_steps": max_steps,
                        "seed": seed,
                        "run_dir": run_dir,
                        "n_envs": n_envs,
                        "vec_env": vec_env,
                        "device": device,
                        "save_steps": save_steps,
                        "resume": resume,
                        "overwrite": overwrite,
                    },
                ),
                spec=spec,
                reward_model=reward_model,
                agent=agent,
                hp=hp,
                ekw=ekw,
                venv=venv,
                seed=seed,
                max_steps=max_steps,
                n_envs=n_envs,
                vec_env=vec_env,
                generator=str(generator),
                resume=resume,
                log_interval=log_interval,
                save_steps=save_steps,
                progress=progress,
                save_zip=save_zip,
                device=device,
                trackers=trackers,
            )
        finally:
            venv.close()
            rd.release()


def _config_dict(cfg_obj: Any, args: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved config recorded in ``run.json`` / ``config.yaml`` (``TrainConfig.to_dict()`` when given)."""
    if cfg_obj is not None:
        d = cfg_obj.to_dict() if hasattr(cfg_obj, "to_dict") else dict(cfg_obj)
    else:
        gen = str(args["generator"])
        d = {
            "env": ENV_ID,
            "model": f"{gen} (digits)" if gen in ("gan", "vae") else gen,
            "task": "digits",
            "reward": args["spec"],
            "agent": args["agent"],
            "max_steps": args["max_steps"],
            "seed": args["seed"],
            "output_dir": str(args["run_dir"]),
            "generator": gen,
            "n_envs": args["n_envs"],
            "vec_env": args["vec_env"],
            "device": args["device"],
            "save_steps": args["save_steps"],
        }
    d.update(
        kind="image", reward=args["spec"], resume=bool(args["resume"]), overwrite=bool(args["overwrite"])
    )
    return d


def _train_in_run_dir(
    rd: RunDir,
    *,
    cfg: dict[str, Any],
    spec: str,
    reward_model: Any,
    agent: str,
    hp: dict[str, Any],
    ekw: dict[str, Any],
    venv: LatentVecEnv | LatentSubprocVecEnv,
    seed: int,
    max_steps: int,
    n_envs: int,
    vec_env: str,
    generator: str,
    resume: bool,
    log_interval: int,
    save_steps: int,
    progress: bool,
    save_zip: bool,
    device: str,
    flag: _StopFlag,
    trackers: list[str] = [],  # noqa: B006 - read only
) -> Path:
    import yaml

    run_dir = rd.path
    latent_meta = {
        "env_id": ENV_ID,
        "reward": spec,
        "generator": generator,
        "env_kwargs": ekw,
        "agent": agent,
        "hyperparameters": hp,
        "n_envs": n_envs,
        "vec_env": vec_env,
        "seed": seed,
        "save_steps": save_steps,
        "log_interval": log_interval,
    }
    image_extra = {
        "image": {
            "save_steps": save_steps,
            "n_envs": n_envs,
            "vec_env": vec_env,
            "env_kwargs": ekw,
            "hyperparameters": hp,
        }
    }
    if resume and rd.record_path.is_file():
        rec = rd.read_record()
        rec.update(status="running", config=run_record(kind="image", config=cfg)["config"], **image_extra)
        rd.write_record(rec)
    else:
        rd.write_record(run_record(kind="image", config=cfg, reward=reward_model, extra=image_extra))
    atomic_write_json(run_dir / "latent.json", latent_meta)
    atomic_write_text(
        run_dir / "config.yaml",
        yaml.safe_dump({**cfg, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S")}, sort_keys=False),
    )
    sinks: list[Any] = []  # the trackers of --report-to, closed however training ends
    try:
        metrics = MetricsWriter(rd.metrics_path)
        ckpt = None
        loop_state: dict[str, Any] | None = None
        if resume:
            clean_incomplete_checkpoints(rd.checkpoints_dir)
            ckpt = latest_complete_checkpoint(rd.checkpoints_dir)
        if ckpt is not None:
            model, loop_state = load_checkpoint(ckpt, venv, device)
            start = int(model.num_timesteps)
        else:  # a new run, or a resumed one that died before its first checkpoint: start at step 0
            venv.seed(seed)
            model = build_model(agent, hp, venv, seed, device)
            start = 0
        metrics.truncate_after(start)
        if "tensorboard" in trackers:
            model.tensorboard_log = str(run_dir / TB_DIR)  # read by SB3 when learn() sets up its logger
            sinks.append(TensorBoardRows(model))
        if "wandb" in trackers:
            sinks.append(WandbCallback(run_dir, cfg))

        def _save(state: Mapping[str, Any]) -> None:
            save_checkpoint(model, venv, rd.checkpoints_dir, agent, hp, state)

        cb = _TrainCallback(
            metrics,
            log_interval,
            save_steps,
            max_steps,
            start,
            progress,
            _save,
            flag,
            loop_state,
            tuple(sinks),
        )
        remaining = max_steps - start
        t0 = time.time()
        try:
            if remaining > 0:
                model.learn(
                    total_timesteps=remaining,
                    callback=CallbackList([cb, *[s for s in sinks if isinstance(s, BaseCallback)]]),
                    reset_num_timesteps=ckpt is None,
                    progress_bar=False,
                )
            cb.finish()
        except _StopTraining:
            cb.bar.close()
            step = checkpoint_step(latest_complete_checkpoint(rd.checkpoints_dir) or Path("checkpoint-0"))
            rd.update_record(status="interrupted", step=max(step, 0))
            raise TrainingInterrupted(run_dir, max(step, 0), int(flag.requested or signal.SIGTERM)) from None
        if int(model.num_timesteps) > cb.last_saved:
            _save(cb.state())
        elapsed = time.time() - t0
        save_policy(model, run_dir, agent, hp)
        if save_zip:
            model.save(str(run_dir / "sb3_model.zip"))
        steps = int(model.num_timesteps)
        atomic_write_json(  # the same fields as a text run's (agents/trl/run.py train_and_save)
            run_dir / "train_summary.json",
            {
                "global_step": steps,
                "train_seconds": round(elapsed, 2),
                # env steps of this process's run (from the checkpoint's step when resumed)
                "steps_per_second": round((steps - start) / elapsed, 4) if elapsed > 0 else None,
                "device": str(model.device),
                "world_size": 1,
                "n_envs": n_envs,
                "resumed_from": None if ckpt is None else str(ckpt),
            },
        )
    except TrainingInterrupted:
        raise
    except KeyboardInterrupt:
        rd.update_record(status="interrupted")
        raise
    except BaseException:
        rd.update_record(status="failed")
        raise
    finally:
        for sink in sinks:
            sink.close()
    rd.update_record(status="finished", step=int(model.num_timesteps))
    return run_dir
