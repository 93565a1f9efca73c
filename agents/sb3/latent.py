"""stable-baselines3 agents (PPO, SAC, A2C) on ``aigc_rl/LatentImage-v0``: train, save without pickle, evaluate.

Algorithms: PPO (Schulman et al. 2017), SAC (Haarnoja et al. 2018), A2C (Mnih et al. 2016), as implemented by
stable-baselines3 (Raffin et al. 2021). Training runs on the native batched env
(:class:`~aigc_rl.envs.image.latent_image.LatentImageVectorEnv`, one generator call per step for all
sub-environments) through :class:`LatentVecEnv`, an SB3 ``VecEnv`` adapter.

Run directory (``output_dir``):

* ``config.yaml``: the resolved run config (``kind: image``), readable by :class:`aigc_rl.config.TrainConfig`.
* ``latent.json``: env arguments, reward spec and algorithm hyperparameters actually used.
* ``policy.safetensors`` + ``policy.json``: the policy weights and what is needed to rebuild the model
  (algorithm, hyperparameters, spaces). Loading never unpickles (handed case G1). ``optim.safetensors`` and
  ``replay.safetensors`` hold optimiser state and (SAC) the replay buffer for ``resume``.
* ``metrics.jsonl``: one JSON line per logging interval:
  ``{"step", "reward", "rewards/<component>/mean", "episodes", "time_s", "steps_per_s"}``.
* after :func:`evaluate_latent`: ``eval.json``, ``samples_base.png``, ``samples_tuned.png``, ``samples.jsonl``.

SB3's own ``.zip`` format stores pickled Python objects; it is written only with ``save_zip=True`` and loaded
only with ``allow_pickle=True``.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from safetensors.torch import load_file, save_file
from stable_baselines3 import A2C, PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from aigc_rl.envs.image.latent_image import DEFAULT_REWARD, LatentImageTask, LatentImageVectorEnv
from aigc_rl.errors import PickleRefusedError

__all__ = [
    "ALGOS",
    "DEFAULT_HYPERPARAMETERS",
    "IMAGE_PRESETS",
    "ENV_ID",
    "PickleRefusedError",
    "LatentVecEnv",
    "image_reward_pairs",
    "train_latent",
    "save_policy",
    "load_policy",
    "evaluate_latent",
]

ENV_ID = "aigc_rl/LatentImage-v0"
ALGOS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "sac": SAC, "a2c": A2C}

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

#: Image meaning of the preset names (``--reward quality+creativity`` on the image env).
IMAGE_PRESETS: dict[str, list[tuple[str, float]]] = {
    "quality": [("target-class", 1.0), ("realism", 5.0)],
    "creativity": [("image-diversity", 3.0)],
}

POLICY_WEIGHTS = "policy.safetensors"
POLICY_META = "policy.json"
OPTIM_WEIGHTS = "optim.safetensors"
REPLAY_WEIGHTS = "replay.safetensors"
RUN_MARKERS = ("config.yaml", "metrics.jsonl", POLICY_WEIGHTS, POLICY_META)
FORMAT = "aigc-rl/sb3-policy"


# ---------------------------------------------------------------------------------------------------------
# rewards
# ---------------------------------------------------------------------------------------------------------
def image_reward_pairs(spec: str | None) -> list[tuple[str, float]]:
    """``[(component, weight)]`` for an image reward spec; ``quality`` / ``creativity`` mean their image versions.

    ``None`` gives :data:`~aigc_rl.envs.image.latent_image.DEFAULT_REWARD`.

    Raises:
        ValueError: empty spec, bad weight, a component named twice, or the ``safety`` preset (no image
            safety reward exists).
    """
    from aigc_rl.rewards.composite import parse_spec

    spec = DEFAULT_REWARD if spec is None else spec
    if isinstance(spec, str) and any(
        i.partition(":")[0].strip() == "safety" for i in spec.replace(",", "+").split("+")
    ):
        raise ValueError(
            "the 'safety' preset has no image reward; use target-class, realism, image-diversity, class-coverage, image-novelty"
        )
    return parse_spec(spec, presets=IMAGE_PRESETS)


# ---------------------------------------------------------------------------------------------------------
# SB3 VecEnv over the native batched env
# ---------------------------------------------------------------------------------------------------------
class LatentVecEnv(VecEnv):
    """SB3 ``VecEnv`` view of :class:`LatentImageVectorEnv` (one generator call per step, same-step autoreset).

    ``infos[i]`` holds ``"rewards"`` (component -> value), ``"target"``, and on episode end
    ``"terminal_observation"`` and ``"TimeLimit.truncated"`` (always False: episodes end by termination).
    """

    def __init__(self, venv: LatentImageVectorEnv) -> None:
        self.venv = venv
        self.render_mode = None
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        seed = self._seeds[0]
        obs, info = self.venv.reset(seed=seed)
        self._seeds = [None] * self.num_envs
        self.reset_infos = [{"target": int(t)} for t in info["target"]]
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self):
        obs, rewards, term, trunc, info = self.venv.step(self._actions)
        dones = term | trunc
        comps = info["rewards"]
        infos: list[dict[str, Any]] = []
        for i in range(self.num_envs):
            d: dict[str, Any] = {
                "target": int(info["target"][i]),
                "rewards": {k: (None if np.isnan(v[i]) else float(v[i])) for k, v in comps.items()},
            }
            if dones[i]:
                d["terminal_observation"] = info["final_obs"][i]
                d["TimeLimit.truncated"] = bool(trunc[i] and not term[i])
            infos.append(d)
        return obs, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [
            getattr(self, attr_name, None) if attr_name == "render_mode" else getattr(self.venv, attr_name)
        ] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any
    ) -> list[Any]:
        return [
            getattr(self.venv, method_name)(*method_args, **method_kwargs) for _ in self._get_indices(indices)
        ]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))

    def _get_indices(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)


class _SpacesEnv(gym.Env):
    """A do-nothing env carrying only spaces: lets SB3 build a model to load weights into (no stepping)."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        self.observation_space = observation_space
        self.action_space = action_space

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action: Any):
        return self.observation_space.sample(), 0.0, True, False, {}


# ---------------------------------------------------------------------------------------------------------
# saving / loading without pickle (case G1)
# ---------------------------------------------------------------------------------------------------------
def _space_to_json(space: spaces.Space) -> dict[str, Any]:
    if not isinstance(space, spaces.Box):
        raise TypeError(f"only Box spaces are saved, got {type(space).__name__}")
    return {
        "type": "Box",
        "low": space.low.tolist(),
        "high": space.high.tolist(),
        "shape": list(space.shape),
        "dtype": str(space.dtype),
    }


def _space_from_json(d: Mapping[str, Any]) -> spaces.Box:
    if d.get("type") != "Box":
        raise ValueError(f"unsupported space in policy.json: {d.get('type')!r}")
    dtype = np.dtype(str(d["dtype"]))
    return spaces.Box(
        np.asarray(d["low"], dtype=dtype), np.asarray(d["high"], dtype=dtype), tuple(d["shape"]), dtype
    )


def _policy_kwargs(pk: Mapping[str, Any] | None) -> dict[str, Any]:
    """JSON policy kwargs -> SB3 policy kwargs (``activation_fn`` by torch.nn class name)."""
    out = dict(pk or {})
    act = out.get("activation_fn")
    if isinstance(act, str):
        if not hasattr(torch.nn, act):
            raise ValueError(f"activation_fn {act!r} is not a torch.nn class name (e.g. 'ReLU', 'Tanh')")
        out["activation_fn"] = getattr(torch.nn, act)
    return out


def _optimizers(model: BaseAlgorithm) -> dict[str, torch.optim.Optimizer]:
    if isinstance(model, SAC):
        out = {"actor": model.actor.optimizer, "critic": model.critic.optimizer}
        if model.ent_coef_optimizer is not None:
            out["ent_coef"] = model.ent_coef_optimizer
        return out
    return {"policy": model.policy.optimizer}


def _flatten_optimizer(
    name: str, opt: torch.optim.Optimizer
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{name}/{idx}/{k}"] = v.detach().clone().contiguous()
            else:
                scalars.setdefault(str(idx), {})[k] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _restore_optimizer(
    name: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    state: dict[int, dict[str, Any]] = {}
    prefix = f"{name}/"
    for key, v in tensors.items():
        if key.startswith(prefix):
            idx, k = key[len(prefix) :].split("/", 1)
            state.setdefault(int(idx), {})[k] = v
    for idx, sc in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(sc)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_policy(
    model: BaseAlgorithm,
    run_dir: str | Path,
    agent: str,
    hyperparameters: Mapping[str, Any],
    resume_state: bool = True,
) -> Path:
    """Write the policy as safetensors + json (no pickle), and optimiser / replay state for resuming.

    Args:
        model: A trained SB3 model with Box observation and action spaces.
        run_dir: Output directory.
        agent: ``"ppo"`` | ``"sac"`` | ``"a2c"``.
        hyperparameters: JSON-serialisable constructor arguments (``policy_kwargs`` with JSON values).
        resume_state: Also write ``optim.safetensors`` (and ``replay.safetensors`` for SAC).

    Returns:
        Path of ``policy.json``.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state = {
        f"policy/{k}": v.detach().clone().contiguous().cpu() for k, v in model.policy.state_dict().items()
    }
    if isinstance(model, SAC) and getattr(model, "log_ent_coef", None) is not None:
        state["extra/log_ent_coef"] = model.log_ent_coef.detach().clone().cpu()
    save_file(state, str(run_dir / POLICY_WEIGHTS), metadata={"format": FORMAT, "agent": agent})
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": 1,
        "agent": agent,
        "policy": "MlpPolicy",
        "hyperparameters": json.loads(json.dumps(dict(hyperparameters))),
        "observation_space": _space_to_json(model.observation_space),
        "action_space": _space_to_json(model.action_space),
        "num_timesteps": int(model.num_timesteps),
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if resume_state:
        tensors: dict[str, torch.Tensor] = {}
        optim_meta: dict[str, Any] = {}
        for name, opt in _optimizers(model).items():
            t, m = _flatten_optimizer(name, opt)
            tensors.update(t)
            optim_meta[name] = m
        save_file(tensors, str(run_dir / OPTIM_WEIGHTS), metadata={"format": FORMAT})
        meta["optimizers"] = optim_meta
        if isinstance(model, OffPolicyAlgorithm) and model.replay_buffer is not None:
            rb = model.replay_buffer
            n = rb.buffer_size if rb.full else rb.pos
            arrays = {
                k: torch.from_numpy(np.ascontiguousarray(getattr(rb, k)[:n]))
                for k in ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")
            }
            save_file(arrays, str(run_dir / REPLAY_WEIGHTS), metadata={"format": FORMAT})
            meta["replay"] = {"pos": int(rb.pos), "full": bool(rb.full), "n": int(n)}
    path = run_dir / POLICY_META
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _build(agent: str, hp: Mapping[str, Any], env: Any, seed: int | None, device: str) -> BaseAlgorithm:
    if agent not in ALGOS:
        raise ValueError(f"unknown agent {agent!r}; available: {', '.join(ALGOS)}")
    kw = dict(hp)
    kw["policy_kwargs"] = _policy_kwargs(kw.get("policy_kwargs"))
    return ALGOS[agent]("MlpPolicy", env, seed=seed, device=device, verbose=0, **kw)


def load_policy(
    path: str | Path,
    allow_pickle: bool = False,
    env: Any = None,
    device: str = "cpu",
    resume_state: bool = False,
    agent: str | None = None,
) -> BaseAlgorithm:
    """Rebuild a saved SB3 model from ``policy.safetensors`` + ``policy.json`` (no unpickling).

    Args:
        path: A run directory, its ``policy.json``, or an SB3 ``.zip`` (only with ``allow_pickle``).
        allow_pickle: Permit loading SB3 ``.zip`` files, which unpickle Python objects and can run arbitrary
            code (stable-baselines3 #1852). Only for files you created yourself.
        env: Env (or VecEnv) to attach (for further training); default a spaces-only stub.
        device: torch device.
        resume_state: Also restore optimiser state and the replay buffer (when saved).
        agent: Algorithm of an SB3 ``.zip`` (``ppo`` | ``sac`` | ``a2c``); tried in turn when ``None``.

    Returns:
        The SB3 model (``predict`` works; ``learn`` works when ``env`` is given).

    Raises:
        PickleRefusedError: ``path`` is a ``.zip`` (or not a safetensors policy) and ``allow_pickle`` is False.
        FileNotFoundError: no policy at ``path``.
        ValueError: malformed ``policy.json`` or weights that do not match it.
    """
    p = Path(path)
    if p.is_file() and p.name not in (POLICY_META, POLICY_WEIGHTS):
        if not allow_pickle:
            raise PickleRefusedError(
                f"{p} is not an aigc-rl safetensors policy: SB3 .zip files hold pickled objects that can execute "
                "code when loaded (handed case G1). Load the run directory (policy.safetensors + policy.json) "
                "instead, or pass allow_pickle=True only for a file you created yourself"
            )
        errors = []
        for name, cls in [(agent, ALGOS[agent])] if agent else list(ALGOS.items()):
            try:
                return cls.load(str(p), env=env, device=device)
            except Exception as e:  # wrong algorithm class: try the next one
                errors.append(f"{name}: {e}")
        raise ValueError(f"{p}: could not load as an SB3 {'/'.join(ALGOS)} model ({'; '.join(errors)})")
    run_dir = p.parent if p.is_file() else p
    meta_path, weights_path = run_dir / POLICY_META, run_dir / POLICY_WEIGHTS
    if not meta_path.is_file() or not weights_path.is_file():
        raise FileNotFoundError(
            f"{run_dir} holds no {POLICY_META} + {POLICY_WEIGHTS}: is it a finished `aigc-rl train --env {ENV_ID}` run?"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{meta_path} is not valid JSON: {e}") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{meta_path}: format {meta.get('format')!r} is not {FORMAT!r}")
    agent = meta.get("agent")
    if agent not in ALGOS:
        raise ValueError(f"{meta_path}: unknown agent {agent!r}; expected one of {', '.join(ALGOS)}")
    obs_space = _space_from_json(meta["observation_space"])
    act_space = _space_from_json(meta["action_space"])
    hp = dict(meta["hyperparameters"])
    if env is None:
        env = _SpacesEnv(obs_space, act_space)
        if agent == "sac":
            hp["buffer_size"] = 1  # no replay buffer needed to act
        if agent == "ppo":
            hp["batch_size"] = max(
                2, int(hp.get("n_steps", 2048))
            )  # one stub env: keep SB3's size check quiet
    model = _build(agent, hp, env, None, device)
    try:
        state = load_file(str(weights_path))
    except Exception as e:  # safetensors refuses anything that is not safetensors (e.g. a pickle)
        raise ValueError(f"{weights_path} is not a valid safetensors file: {e}") from None
    pol = {k[len("policy/") :]: v for k, v in state.items() if k.startswith("policy/")}
    try:
        model.policy.load_state_dict(pol, strict=True)
    except RuntimeError as e:
        raise ValueError(f"{weights_path} does not match the policy described in {meta_path}: {e}") from e
    if "extra/log_ent_coef" in state and isinstance(model, SAC) and model.log_ent_coef is not None:
        with torch.no_grad():
            model.log_ent_coef.copy_(state["extra/log_ent_coef"])
    model.num_timesteps = int(meta.get("num_timesteps", 0))
    if resume_state:
        _restore_resume_state(model, run_dir, meta)
    return model


def _restore_resume_state(model: BaseAlgorithm, run_dir: Path, meta: Mapping[str, Any]) -> None:
    if (run_dir / OPTIM_WEIGHTS).is_file() and "optimizers" in meta:
        tensors = load_file(str(run_dir / OPTIM_WEIGHTS))
        for name, opt in _optimizers(model).items():
            if name in meta["optimizers"]:
                _restore_optimizer(name, opt, tensors, meta["optimizers"][name])
    if isinstance(model, OffPolicyAlgorithm) and (run_dir / REPLAY_WEIGHTS).is_file() and "replay" in meta:
        arrays = load_file(str(run_dir / REPLAY_WEIGHTS))
        rb = model.replay_buffer
        n = min(int(meta["replay"]["n"]), rb.buffer_size)
        for k, v in arrays.items():
            getattr(rb, k)[:n] = v.numpy()[:n]
        rb.pos = int(meta["replay"]["pos"]) % rb.buffer_size
        rb.full = bool(meta["replay"]["full"]) or n >= rb.buffer_size


# ---------------------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------------------
class _MetricsCallback(BaseCallback):
    """Appends one JSON line per ``log_interval`` env steps to ``metrics.jsonl``; drives a tqdm bar; checkpoints."""

    def __init__(
        self,
        path: Path,
        log_interval: int,
        total: int,
        start: int,
        progress: bool,
        save_fn: Any,
        save_every: int,
    ) -> None:
        super().__init__()
        from tqdm.auto import tqdm

        self.path = path
        self.log_interval = log_interval
        self.bar = tqdm(
            total=total, initial=start, desc="train latent policy", unit="step", disable=not progress
        )
        self.save_fn = save_fn
        self.save_every = save_every
        self._reset_acc()
        self._next_log = (start // log_interval + 1) * log_interval
        self._next_save = (start // save_every + 1) * save_every
        self._t0 = time.time()
        self._t_last = time.time()
        self._steps_last = start

    def _reset_acc(self) -> None:
        self.sum_r = 0.0
        self.n = 0
        self.episodes = 0
        self.comp_sum: dict[str, float] = {}
        self.comp_n: dict[str, int] = {}

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
            self._next_log += self.log_interval
        if self.model.num_timesteps >= self._next_save:
            self.save_fn()
            self._next_save += self.save_every
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
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        self._t_last, self._steps_last = now, self.model.num_timesteps
        self._reset_acc()

    def _on_training_end(self) -> None:
        self._write()
        self.bar.close()


def _check_batch_sizes(agent: str, hp: Mapping[str, Any], n_envs: int) -> None:
    """Reject PPO minibatches of one sample before training (handed case B3).

    Advantage normalisation over one sample divides by a zero standard deviation; SB3 skips it for a
    leftover minibatch of one, but a configured ``batch_size`` of 1 would train without it silently.

    Raises:
        ValueError: naming ``batch_size`` / ``n_steps`` and the fix.
    """
    if agent != "ppo":
        return
    bs = int(hp.get("batch_size", 64))
    rollout = int(hp.get("n_steps", 2048)) * n_envs
    if bs < 2:
        raise ValueError(
            f"PPO batch_size must be >= 2 (advantages are normalised per minibatch), got {bs}; raise batch_size"
        )
    if rollout % bs == 1:
        raise ValueError(
            f"PPO rollout of n_steps * n_envs = {rollout} samples leaves a minibatch of 1 with batch_size={bs}; "
            "choose a batch_size that divides n_steps * n_envs"
        )


def _config_fields(cfg: Any) -> dict[str, Any]:
    d = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    return d


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
    env_kwargs: Mapping[str, Any] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    log_interval: int = 1000,
    save_every: int = 5000,
    progress: bool = True,
    save_zip: bool = False,
    device: str = "cpu",
) -> Path:
    """Train an SB3 agent on ``aigc_rl/LatentImage-v0`` and write the run directory.

    Args:
        env_id: ``"aigc_rl/LatentImage-v0"``, or an :class:`aigc_rl.config.TrainConfig` (``kind: image``) whose
            fields (env, agent, max_steps, seed, output_dir, reward, generator, n_envs, resume, overwrite,
            device) replace the arguments below.
        agent: ``"sac"`` (default, best here), ``"ppo"`` or ``"a2c"``.
        max_steps: Env steps in total over all sub-environments (>= 1).
        seed: Seeds SB3 (torch, numpy) and the env.
        output_dir: Run directory; default ``runs/latent-image-<generator>-<agent>-seed<seed>``.
        reward: Image reward spec (``None`` = the env default; ``quality`` / ``creativity`` presets mean
            ``target-class:1+realism:5`` / ``image-diversity:3``).
        generator: ``"gan"`` | ``"vae"`` | a model directory.
        n_envs: Sub-environments of the batched env (one generator call per step for all of them).
        resume: Continue the run in ``output_dir`` (policy, optimisers, replay buffer, step count).
        overwrite: Delete a run already in ``output_dir`` first.
        env_kwargs: Other :class:`~aigc_rl.envs.image.latent_image.LatentImageTask` arguments (mode, ...).
        hyperparameters: Overrides of :data:`DEFAULT_HYPERPARAMETERS` for the agent (JSON values).
        log_interval: Env steps between ``metrics.jsonl`` lines.
        save_every: Env steps between checkpoints of the policy (for ``resume``).
        progress: tqdm progress bar.
        save_zip: Also write SB3's ``sb3_model.zip`` (contains pickle; never loaded by default).
        device: torch device of the agent (``"auto"`` means CUDA when available).

    Returns:
        The run directory.

    Raises:
        ValueError: unknown env id / agent, ``max_steps < 1``, ``n_envs < 1``, a bad reward spec, an output
            directory that already holds a run without ``resume``/``overwrite``, ``resume`` without a run,
            or both ``resume`` and ``overwrite``.
    """
    cfg_dict: dict[str, Any] | None = None
    if not isinstance(env_id, str):
        cfg_dict = _config_fields(env_id)
        env_id = cfg_dict["env"]
        agent = cfg_dict.get("agent", agent)
        max_steps = cfg_dict.get("max_steps", max_steps)
        seed = cfg_dict.get("seed", seed)
        output_dir = cfg_dict.get("output_dir") or output_dir
        generator = cfg_dict.get("generator", generator)
        n_envs = cfg_dict.get("n_envs", n_envs)
        resume = bool(cfg_dict.get("resume", resume))
        overwrite = bool(cfg_dict.get("overwrite", overwrite))
        device = cfg_dict.get("device", device)
        reward = cfg_dict.get("reward") or reward
    if env_id != ENV_ID:
        raise ValueError(
            f"train_latent trains {ENV_ID!r}, got env {env_id!r} (text envs train with TRL agents)"
        )
    if agent not in ALGOS:
        raise ValueError(f"unknown agent {agent!r} for {ENV_ID}; available: {', '.join(ALGOS)}")
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r} (--max-steps)")
    if not isinstance(n_envs, int) or n_envs < 1:
        raise ValueError(f"n_envs must be an integer >= 1, got {n_envs!r} (--n-envs)")
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other: pick one")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    pairs = image_reward_pairs(reward)
    spec = "+".join(f"{n}:{w:g}" for n, w in pairs)
    hp = json.loads(json.dumps(DEFAULT_HYPERPARAMETERS[agent]))
    for k, v in (hyperparameters or {}).items():
        if k == "policy_kwargs":
            hp["policy_kwargs"] = {**hp.get("policy_kwargs", {}), **dict(v)}
        else:
            hp[k] = v
    ekw = dict(env_kwargs or {})
    _check_batch_sizes(agent, hp, n_envs)

    run_dir = (
        Path(output_dir)
        if output_dir
        else Path("runs") / f"latent-image-{Path(str(generator)).name}-{agent}-seed{seed}"
    )
    holds_run = run_dir.exists() and any((run_dir / m).exists() for m in RUN_MARKERS)
    if holds_run and not (resume or overwrite):
        raise ValueError(
            f"{run_dir} already holds a run; pass resume=True (--resume) to continue it, overwrite=True (--overwrite) to replace it, or choose another output dir"
        )
    if resume and not (run_dir / POLICY_META).is_file():
        raise ValueError(f"resume: {run_dir} holds no saved policy ({POLICY_META}) to resume")

    # Build everything that can fail on bad input before touching the run directory.
    from aigc_rl.rewards.composite import make_composite

    reward_model = make_composite(pairs)
    from aigc_rl.rewards.base import FunctionReward, RewardModel
    from aigc_rl.rewards.image import ImageRewardModel

    text_only = [  # rewards that turn completions into text cannot score images: refuse before writing anything
        r.name
        for r, _ in reward_model.components
        if not isinstance(r, (ImageRewardModel, FunctionReward)) and type(r).raw is RewardModel.raw
    ]
    if text_only:
        from aigc_rl.config import ConfigError

        raise ConfigError(
            f"reward {', '.join(map(repr, text_only))} scores text, not images; image runs take target-class, realism, "
            "image-diversity, class-coverage, image-novelty (--reward)"
        )
    task = LatentImageTask(generator=generator, reward=reward_model, device="cpu", **ekw)
    venv = LatentVecEnv(LatentImageVectorEnv(n_envs, latent_task=task))

    if overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "env": ENV_ID,
        "reward": spec,
        "agent": agent,
        "max_steps": int(max_steps),
        "seed": int(seed),
        "output_dir": str(run_dir),
        "generator": str(generator),
        "n_envs": int(n_envs),
        "device": device,
        "resume": bool(resume),
        "overwrite": bool(overwrite),
    }
    if cfg_dict is not None:
        config = {**{k: v for k, v in cfg_dict.items() if k not in ("kind", "saved_at")}, **config}
    import yaml

    (run_dir / "config.yaml").write_text(
        yaml.safe_dump(
            {**config, "kind": "image", "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S")}, sort_keys=False
        ),
        encoding="utf-8",
    )
    latent_meta = {
        "env_id": ENV_ID,
        "reward": spec,
        "generator": str(generator),
        "env_kwargs": ekw,
        "agent": agent,
        "hyperparameters": hp,
        "n_envs": n_envs,
        "seed": seed,
    }
    (run_dir / "latent.json").write_text(json.dumps(latent_meta, indent=2) + "\n", encoding="utf-8")

    if resume:
        model = load_policy(run_dir, env=venv, device=device, resume_state=True)
        model.set_random_seed(seed + int(model.num_timesteps))
        venv.seed(seed + int(model.num_timesteps))
    else:
        venv.seed(seed)
        model = _build(agent, hp, venv, seed, device)
    start = int(model.num_timesteps)
    remaining = int(max_steps) - start
    metrics_path = run_dir / "metrics.jsonl"

    def _save() -> None:
        save_policy(model, run_dir, agent, hp)

    if remaining > 0:
        cb = _MetricsCallback(
            metrics_path, int(log_interval), int(max_steps), start, progress, _save, int(save_every)
        )
        model.learn(
            total_timesteps=remaining, callback=cb, reset_num_timesteps=not resume, progress_bar=False
        )
    _save()
    if save_zip:
        model.save(str(run_dir / "sb3_model.zip"))
    venv.close()
    return run_dir


# ---------------------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------------------
def _ci95(values: np.ndarray) -> dict[str, Any]:
    """Mean and normal-approximation 95% interval ``mean ± 1.96 sd / sqrt(n)``."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return {"mean": float("nan"), "ci95": [float("nan"), float("nan")]}
    m = float(v.mean())
    h = 1.96 * float(v.std(ddof=1)) / math.sqrt(len(v)) if len(v) > 1 else 0.0
    return {"mean": m, "ci95": [m - h, m + h]}


def _wilson(k: int, n: int) -> list[float]:
    """Wilson score 95% interval of a proportion ``k / n`` (Wilson 1927)."""
    if n == 0:
        return [float("nan"), float("nan")]
    z = 1.96
    p = k / n
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return [c - h, c + h]


def _grid(images: np.ndarray, targets: np.ndarray, path: Path, title: str, per_row: int = 10) -> None:
    """A grid PNG: one row per target class (0..9), ``per_row`` samples each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = sorted(set(int(t) for t in targets))
    fig, axes = plt.subplots(
        len(classes), per_row, figsize=(per_row * 0.6, len(classes) * 0.6 + 0.4), squeeze=False
    )
    for r, c in enumerate(classes):
        imgs = images[targets == c][:per_row]
        for j in range(per_row):
            ax = axes[r, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if j < len(imgs):
                ax.imshow(imgs[j], cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
            if j == 0:
                ax.set_ylabel(str(c), rotation=0, labelpad=8, va="center")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _rollout(
    model: BaseAlgorithm | None, task: LatentImageTask, targets: np.ndarray, seed: int, deterministic: bool
) -> np.ndarray:
    """Final images ``(n, H, W)``; ``model=None`` gives the base policy: the prior latent ``z0`` itself."""
    venv = LatentImageVectorEnv(len(targets), latent_task=task)
    obs, _ = venv.reset(seed=seed, options={"target": targets})
    if model is None:
        return task.generate(venv._z.copy())
    images = None
    for _ in range(task.walk_steps):
        actions, _ = model.predict(obs, deterministic=deterministic)
        obs, _, term, _, info = venv.step(actions)
        images = info["image"]
        if term.all():
            break
    return images  # type: ignore[return-value]


def evaluate_latent(
    run_dir: str | Path,
    n_per_class: int = 100,
    seed: int = 12345,
    deterministic: bool = True,
    judge: str = "judge",
    progress: bool = True,
) -> dict[str, Any]:
    """Compare the base policy (prior latents) with the trained policy and write ``eval.json`` + sample grids.

    Both policies get the same ``n_per_class`` targets per class and the same prior draws ``z0``: the base
    policy uses ``z0`` as its latent (random latents from the prior), the tuned policy acts on the
    observation built from the target and ``z0``. By default the tuned policy acts with its mean action
    (SB3's ``deterministic=True``, as in ``evaluate_policy``): the variety of its images then comes from
    ``z0`` in the observation, i.e. the policy is a conditional generator ``(target, z0) -> latent``.

    Metrics per policy (``{"mean", "ci95": [lo, hi]}``; normal-approximation intervals over images, Wilson
    interval for ``target-accuracy``):

    * ``target-accuracy``: fraction of images the held-out **judge** classifier (a CNN trained on split
      ``b``, never used as a reward) assigns to the target class;
    * ``diversity``: mean RMS pixel distance between images of the same target (``image-diversity`` over
      groups of ``n_per_class``), interval over the 10 per-class values;
    * ``reward``: the run's composite reward on the batch (group rewards see groups of the same target, no
      sample memory);
    * each reward component's raw value.

    ``eval.json`` also holds ``reference`` (the same diversity for real digits, per class, and the judge's
    accuracy on its held-out split) and ``samples`` (file names and settings).

    Args:
        run_dir: A run directory written by :func:`train_latent`.
        n_per_class: Images per class and policy (>= 2).
        seed: Seed of the evaluation targets/prior draws (independent of training).
        deterministic: Use the policy's mean action (default) instead of sampling it.
        judge: Judge classifier name or directory.
        progress: tqdm bar over the two policies.

    Returns:
        The ``eval.json`` content.

    Raises:
        FileNotFoundError: no run / policy in ``run_dir``.
        ValueError: ``n_per_class < 2``.
    """
    from tqdm.auto import tqdm

    from aigc_rl.generators.store import load_model
    from aigc_rl.rewards.composite import make_composite
    from aigc_rl.rewards.image import ImageDiversity

    run_dir = Path(run_dir)
    if n_per_class < 2:
        raise ValueError(f"n_per_class must be >= 2 (diversity needs pairs), got {n_per_class}")
    meta_path = run_dir / "latent.json"
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"{run_dir} holds no latent.json: is it a run written by `aigc-rl train --env {ENV_ID}`?"
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    model = load_policy(run_dir)
    reward_model = make_composite(image_reward_pairs(meta["reward"]))
    ekw = {**meta.get("env_kwargs", {}), "memory_size": 0}
    task = LatentImageTask(generator=meta["generator"], reward=reward_model, **ekw)
    judge_model = load_model(judge)
    targets = np.repeat(np.arange(task.n_classes), n_per_class)
    diversity = ImageDiversity()

    from aigc_rl.generators.data import load_images

    results: dict[str, dict[str, Any]] = {}
    per_sample: dict[str, dict[str, np.ndarray]] = {}
    for name in tqdm(["base", "tuned"], desc="evaluate latent policy", disable=not progress):
        images = _rollout(None if name == "base" else model, task, targets, seed, deterministic)
        total, comps = reward_model.compute(images, None, target=targets.tolist())
        with torch.no_grad():
            probs = judge_model.probs(torch.from_numpy(images))
        pred = probs.argmax(1).numpy()
        correct = (pred == targets).astype(np.float64)
        div = np.array(diversity.raw(images, None, target=targets.tolist()), dtype=np.float64)
        per_class_div = np.array([div[targets == c].mean() for c in range(task.n_classes)])
        acc = {"mean": float(correct.mean()), "ci95": _wilson(int(correct.sum()), len(correct))}
        div_summary = _ci95(per_class_div)
        div_summary["per_class"] = per_class_div.round(5).tolist()
        m: dict[str, Any] = {
            "target-accuracy": acc,
            "diversity": div_summary,
            "reward": _ci95(np.array([np.nan if v is None else v for v in total], dtype=np.float64)),
        }
        for k, v in comps.items():
            if not k.endswith("/weighted"):
                m[k] = _ci95(np.array([np.nan if x is None else x for x in v], dtype=np.float64))
        m["judge-target-prob"] = _ci95(probs[np.arange(len(targets)), targets].numpy())
        results[name] = m
        per_sample[name] = {
            "pred": pred,
            "reward": np.array([0.0 if v is None else v for v in total]),
            "div": div,
        }
        _grid(
            images,
            targets,
            run_dir / f"samples_{name}.png",
            f"{name} policy: one row per target class ({meta['agent']}, {meta['generator']})",
        )

    # reference: real digits of the same class
    x_real, y_real = load_images("digits", "all") if tuple(task.image_shape) == (8, 8) else (None, None)
    reference: dict[str, Any] = {}
    if x_real is not None:
        real_div = np.array(diversity.raw(x_real, None, target=y_real.tolist()), dtype=np.float64)
        per_class_real = np.array([real_div[y_real == c].mean() for c in range(task.n_classes)])
        reference["diversity_real"] = _ci95(per_class_real)
        reference["diversity_real"]["per_class"] = per_class_real.round(5).tolist()
        reference["diversity_ratio_tuned_to_real"] = float(
            results["tuned"]["diversity"]["mean"] / per_class_real.mean()
        )
        reference["diversity_ratio_base_to_real"] = float(
            results["base"]["diversity"]["mean"] / per_class_real.mean()
        )
        xa, ya = load_images("digits", "a")
        with torch.no_grad():
            reference["judge_accuracy_real_split_a"] = float(
                (judge_model.probs(torch.from_numpy(xa)).argmax(1).numpy() == ya).mean()
            )
    out = {
        "n_prompts": int(len(targets)),
        "policies": results,
        "reference": reference,
        "samples": {
            "base": "samples_base.png",
            "tuned": "samples_tuned.png",
            "per_sample": "samples.jsonl",
            "n_per_class": int(n_per_class),
            "seed": int(seed),
            "deterministic": bool(deterministic),
            "judge": str(judge),
        },
        "run": {
            "agent": meta["agent"],
            "generator": meta["generator"],
            "reward": meta["reward"],
            "num_timesteps": int(model.num_timesteps),
        },
    }
    (run_dir / "eval.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    with (run_dir / "samples.jsonl").open("w", encoding="utf-8") as f:
        for name, d in per_sample.items():
            for i in range(len(targets)):
                f.write(
                    json.dumps(
                        {
                            "policy": name,
                            "index": i,
                            "target": int(targets[i]),
                            "judge_pred": int(d["pred"][i]),
                            "reward": float(d["reward"][i]),
                            "diversity": float(d["div"][i]),
                        }
                    )
                    + "\n"
                )
    return out
