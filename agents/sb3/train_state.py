"""Checkpoints of an SB3 latent-image training: everything a resumed run needs to continue bit for bit.

A checkpoint is the directory ``checkpoints/checkpoint-N`` (``N`` = env steps done). It is written as
``checkpoint-N.tmp``, marked complete (:func:`aigc_rl.run.mark_complete`) and then renamed, so a kill
mid-save leaves only a ``.tmp`` directory that resume ignores and removes. It holds:

* ``policy.safetensors`` + ``policy.json`` — the policy (:mod:`aigc_rl.agents.sb3.policy_io`); for SAC
  this includes the target critics and ``log_ent_coef``;
* ``optim.safetensors`` — every optimiser's tensors (``<optimiser>/<param index>/<key>``: Adam's ``step``,
  ``exp_avg``, ``exp_avg_sq``); SAC has ``actor``, ``critic`` and ``ent_coef`` optimisers, PPO/A2C one
  ``policy`` optimiser;
* ``replay.safetensors`` (SAC) — the filled rows of the replay buffer (``observations``,
  ``next_observations``, ``actions``, ``rewards``, ``dones``, ``timeouts``; shape ``(rows, n_envs, ...)``);
* ``state.safetensors`` — ``rng/torch`` (``torch.get_rng_state()``, uint8), ``rng/cuda/<i>`` on a GPU,
  ``last_obs`` / ``last_episode_starts`` (SB3's ``_last_obs``, ``_last_episode_starts``) and the env's
  arrays ``env/<name>`` (:meth:`~aigc_rl.agents.sb3.vec_env.LatentVecEnv.get_state`);
* ``state.json`` — counters (``num_timesteps``, ``_n_updates``, ``_episode_num``,
  ``_current_progress_remaining``), the numpy global bit-generator state, Python's ``random`` state, the
  action space's and the env's bit-generator states, optimiser ``param_groups``, replay-buffer
  ``pos``/``full``, and the training loop's own state (metrics accumulators).

Nothing here is pickled: tensors are safetensors, the rest JSON.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from aigc_rl.errors import UserFileError
from aigc_rl.run import atomic_write_json, checkpoint_step, mark_complete

from .policy_io import FORMAT, load_policy, write_policy_files
from .vec_env import LatentSubprocVecEnv, LatentVecEnv

__all__ = ["save_checkpoint", "load_checkpoint", "clean_incomplete_checkpoints", "checkpoint_step"]

OPTIM_WEIGHTS = "optim.safetensors"
REPLAY_WEIGHTS = "replay.safetensors"
STATE_WEIGHTS = "state.safetensors"
STATE_META = "state.json"
_REPLAY_KEYS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


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
                tensors[f"{name}/{idx}/{k}"] = v.detach().clone().contiguous().cpu()
            else:
                scalars.setdefault(str(idx), {})[k] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _restore_optimizer(
    name: str, opt: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]
) -> None:
    state: dict[int, dict[str, Any]] = {}
    prefix = f"{name}/"
    for key, v in tensors.items():
        if key.startswith(prefix):
            idx, k = key[len(prefix) :].split("/", 1)
            state.setdefault(int(idx), {})[k] = v
    for idx, sc in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(sc)
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    opt.load_state_dict({"state": state, "param_groups": groups})


def _np_state_to_json(state: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(
        json.dumps(state, default=lambda o: o.tolist() if isinstance(o, np.ndarray) else int(o))
    )


def _global_rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = s
    np_state = np.random.get_state(legacy=False)
    py_version, py_state, py_gauss = random.getstate()
    meta = {
        "numpy": _np_state_to_json(np_state),
        "python": [py_version, list(py_state), py_gauss],
    }
    return tensors, meta


def _set_global_rng_state(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
    torch.set_rng_state(tensors["rng/torch"])
    cuda = sorted((k for k in tensors if k.startswith("rng/cuda/")), key=lambda k: int(k.rsplit("/", 1)[1]))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda])
    st = dict(meta["numpy"])
    st["state"] = dict(st["state"])
    st["state"]["key"] = np.asarray(st["state"]["key"], dtype=np.uint32)
    np.random.set_state(st)
    v, s, g = meta["python"]
    random.setstate((v, tuple(s), g))


def save_checkpoint(
    model: BaseAlgorithm,
    venv: LatentVecEnv | LatentSubprocVecEnv,
    checkpoints_dir: Path,
    agent: str,
    hyperparameters: Mapping[str, Any],
    loop_state: Mapping[str, Any],
) -> Path:
    """Write ``checkpoints_dir/checkpoint-<num_timesteps>`` completely, or not at all.

    Call it only between SB3 rollouts (after a training update, before the next env step): then the
    replay buffer, ``_last_obs`` and every random state describe the same moment.

    Args:
        model: The SB3 model being trained.
        venv: Its env.
        checkpoints_dir: The run's ``checkpoints/`` directory.
        agent: ``"sac"`` | ``"ppo"`` | ``"a2c"``.
        hyperparameters: The JSON hyperparameters the model was built with.
        loop_state: JSON state of the training loop (restored by :func:`load_checkpoint`).

    Returns:
        The complete checkpoint directory.
    """
    step = int(model.num_timesteps)
    final = checkpoints_dir / f"checkpoint-{step}"
    tmp = checkpoints_dir / f"checkpoint-{step}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    write_policy_files(model, tmp, agent, hyperparameters)

    optim_tensors: dict[str, torch.Tensor] = {}
    optim_meta: dict[str, Any] = {}
    for name, opt in _optimizers(model).items():
        t, m = _flatten_optimizer(name, opt)
        optim_tensors.update(t)
        optim_meta[name] = m
    save_file(optim_tensors, str(tmp / OPTIM_WEIGHTS), metadata={"format": FORMAT})

    meta: dict[str, Any] = {
        "format": FORMAT,
        "step": step,
        "num_timesteps": step,
        "n_updates": int(model._n_updates),
        "episode_num": int(model._episode_num),
        "current_progress_remaining": float(model._current_progress_remaining),
        "optimizers": optim_meta,
        "action_space_rng": _np_state_to_json(model.action_space.np_random.bit_generator.state),
        "loop": dict(loop_state),
    }
    if isinstance(model, OffPolicyAlgorithm) and model.replay_buffer is not None:
        rb = model.replay_buffer
        n = rb.buffer_size if rb.full else rb.pos
        arrays = {k: torch.from_numpy(np.ascontiguousarray(getattr(rb, k)[:n])) for k in _REPLAY_KEYS}
        save_file(arrays, str(tmp / REPLAY_WEIGHTS), metadata={"format": FORMAT})
        meta["replay"] = {"pos": int(rb.pos), "full": bool(rb.full), "n": int(n)}

    tensors, rng_meta = _global_rng_state()
    meta["rng"] = rng_meta
    env_arrays, env_meta = venv.get_state()
    meta["env"] = env_meta
    tensors.update({f"env/{k}": torch.from_numpy(v) for k, v in env_arrays.items()})
    tensors["last_obs"] = torch.from_numpy(np.ascontiguousarray(model._last_obs))
    if model._last_episode_starts is not None:
        tensors["last_episode_starts"] = torch.from_numpy(np.asarray(model._last_episode_starts, dtype=bool))
    save_file(tensors, str(tmp / STATE_WEIGHTS), metadata={"format": FORMAT})
    atomic_write_json(tmp / STATE_META, meta)

    mark_complete(tmp)
    if final.exists():  # an earlier save of this very step (aigc-rl wrote it): the new one replaces it
        shutil.rmtree(final)
    tmp.rename(final)
    return final


def load_checkpoint(
    ckpt: Path, venv: LatentVecEnv | LatentSubprocVecEnv, device: str
) -> tuple[BaseAlgorithm, dict[str, Any]]:
    """Rebuild the model of a checkpoint on ``venv`` and restore every state :func:`save_checkpoint` wrote.

    The global random states (torch, numpy, Python) are set last, so that the next env step and update
    draw exactly what the uninterrupted run drew.

    Returns:
        ``(model, loop_state)``.

    Raises:
        UserFileError: a file of the checkpoint is missing or unreadable, or does not fit ``venv``.
    """
    try:
        meta = json.loads((ckpt / STATE_META).read_text(encoding="utf-8"))
        model = load_policy(ckpt, env=venv, device=device)
        optim = load_file(str(ckpt / OPTIM_WEIGHTS))
        state = load_file(str(ckpt / STATE_WEIGHTS))
        replay = load_file(str(ckpt / REPLAY_WEIGHTS)) if "replay" in meta else None
    except (OSError, ValueError) as e:
        raise UserFileError(f"{ckpt}: unreadable checkpoint ({' '.join(str(e).split())})") from None
    for name, opt in _optimizers(model).items():
        if name in meta["optimizers"]:
            _restore_optimizer(name, opt, optim, meta["optimizers"][name])
    if replay is not None and isinstance(model, OffPolicyAlgorithm) and model.replay_buffer is not None:
        rb = model.replay_buffer
        n = int(meta["replay"]["n"])
        if n > rb.buffer_size:
            raise UserFileError(
                f"{ckpt}: replay buffer of {n} rows does not fit buffer_size {rb.buffer_size}"
            )
        for k in _REPLAY_KEYS:
            getattr(rb, k)[:n] = replay[k].numpy()
        rb.pos = int(meta["replay"]["pos"])
        rb.full = bool(meta["replay"]["full"])
    model.num_timesteps = int(meta["num_timesteps"])
    model._n_updates = int(meta["n_updates"])
    model._episode_num = int(meta["episode_num"])
    model._current_progress_remaining = float(meta["current_progress_remaining"])
    model._last_obs = state["last_obs"].numpy().copy()
    if "last_episode_starts" in state:
        model._last_episode_starts = state["last_episode_starts"].numpy().copy()
    try:
        venv.set_state({k[4:]: v.numpy() for k, v in state.items() if k.startswith("env/")}, meta["env"])
    except (KeyError, ValueError) as e:
        raise UserFileError(f"{ckpt}: env state does not fit this run's env ({e})") from None
    model.action_space.np_random.bit_generator.state = meta["action_space_rng"]
    _set_global_rng_state(state, meta["rng"])
    return model, dict(meta.get("loop", {}))


def clean_incomplete_checkpoints(checkpoints_dir: Path) -> list[Path]:
    """Remove ``checkpoint-N.tmp`` directories (a kill mid-save; aigc-rl wrote them). Returns those removed."""
    removed = []
    if checkpoints_dir.is_dir():
        for p in checkpoints_dir.glob("checkpoint-*.tmp"):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
                removed.append(p)
    return removed
