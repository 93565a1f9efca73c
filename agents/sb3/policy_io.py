"""Build, save and load SB3 latent-image policies as safetensors + JSON, never with pickle (handed case G1, DLR-RM/stable-baselines3#1852).

A saved policy is two files in one directory:

* ``policy.safetensors`` — ``policy/<name>`` for every tensor of ``model.policy.state_dict()`` (for SAC the
  actor, both critics and the target critics) and, for SAC with a learned entropy coefficient,
  ``extra/log_ent_coef``; its metadata holds ``format``, ``agent`` and ``save_id``.
* ``policy.json`` — what rebuilds the model: ``format``, ``agent``, ``hyperparameters`` (JSON values),
  ``observation_space`` / ``action_space`` (Box bounds), ``num_timesteps`` and the same ``save_id``.

The two files are written one after the other, each atomically; :func:`load_policy` refuses a pair whose
``save_id`` differ (a kill between the two writes), so a torn policy is never loaded. Inside a checkpoint
both are written into a temporary directory that is renamed when complete
(:mod:`aigc_rl.agents.sb3.train_state`).

stable-baselines3's own ``.zip`` format stores pickled Python objects (stable-baselines3 #1852,
https://github.com/DLR-RM/stable-baselines3/issues/1852): it is loaded only with ``allow_pickle=True``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from stable_baselines3 import A2C, PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm

from aigc_rl.errors import ConfigError, ModelNotFoundError, PickleRefusedError, UserFileError
from aigc_rl.run import atomic_write_json, latest_complete_checkpoint

from .vec_env import SpacesEnv

__all__ = [
    "ALGOS",
    "ENV_ID",
    "FORMAT",
    "POLICY_WEIGHTS",
    "POLICY_META",
    "build_model",
    "save_policy",
    "write_policy_files",
    "load_policy",
    "policy_kwargs_from_json",
]

ENV_ID = "aigc_rl/LatentImage-v0"
ALGOS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "sac": SAC, "a2c": A2C}
POLICY_WEIGHTS = "policy.safetensors"
POLICY_META = "policy.json"
FORMAT = "aigc-rl/sb3-policy"


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


def _space_from_json(d: Mapping[str, Any], source: Path) -> spaces.Box:
    if not isinstance(d, Mapping) or d.get("type") != "Box":
        raise UserFileError(f"{source}: unsupported space {d!r}; only Box spaces are saved")
    dtype = np.dtype(str(d["dtype"]))
    return spaces.Box(
        np.asarray(d["low"], dtype=dtype), np.asarray(d["high"], dtype=dtype), tuple(d["shape"]), dtype
    )


def policy_kwargs_from_json(pk: Mapping[str, Any] | None) -> dict[str, Any]:
    """JSON policy kwargs -> SB3 policy kwargs (``activation_fn`` given by torch.nn class name).

    Raises:
        ConfigError: ``activation_fn`` is not a torch.nn class name.
    """
    out = dict(pk or {})
    act = out.get("activation_fn")
    if isinstance(act, str):
        if not hasattr(torch.nn, act):
            raise ConfigError(
                f"activation_fn {act!r} is not a torch.nn class name (e.g. 'ReLU', 'Tanh') (policy_kwargs)"
            )
        out["activation_fn"] = getattr(torch.nn, act)
    return out


def build_model(agent: str, hp: Mapping[str, Any], env: Any, seed: int | None, device: str) -> BaseAlgorithm:
    """A new SB3 ``MlpPolicy`` model of ``agent`` with hyperparameters ``hp`` on ``env``.

    Raises:
        ConfigError: unknown agent or a bad ``activation_fn``.
    """
    if agent not in ALGOS:
        raise ConfigError(f"unknown agent {agent!r}; available: {', '.join(ALGOS)} (--agent)")
    kw = dict(hp)
    kw["policy_kwargs"] = policy_kwargs_from_json(kw.get("policy_kwargs"))
    return ALGOS[agent]("MlpPolicy", env, seed=seed, device=device, verbose=0, **kw)


def _policy_tensors(model: BaseAlgorithm) -> dict[str, torch.Tensor]:
    state = {
        f"policy/{k}": v.detach().clone().contiguous().cpu() for k, v in model.policy.state_dict().items()
    }
    log_ent_coef = getattr(model, "log_ent_coef", None) if isinstance(model, SAC) else None
    if log_ent_coef is not None:
        state["extra/log_ent_coef"] = log_ent_coef.detach().clone().cpu()
    return state


def _policy_meta(model: BaseAlgorithm, agent: str, hyperparameters: Mapping[str, Any], save_id: str) -> dict:
    return {
        "format": FORMAT,
        "version": 2,
        "agent": agent,
        "policy": "MlpPolicy",
        "hyperparameters": json.loads(json.dumps(dict(hyperparameters))),
        "observation_space": _space_to_json(model.observation_space),
        "action_space": _space_to_json(model.action_space),
        "num_timesteps": int(model.num_timesteps),
        "save_id": save_id,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def write_policy_files(
    model: BaseAlgorithm, directory: Path, agent: str, hyperparameters: Mapping[str, Any]
) -> Path:
    """Write ``policy.safetensors`` then ``policy.json`` into ``directory`` (each atomically, same ``save_id``).

    Returns:
        Path of ``policy.json``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    save_id = uuid.uuid4().hex
    weights = directory / POLICY_WEIGHTS
    tmp = directory / f".{POLICY_WEIGHTS}.{save_id}.tmp"
    try:
        save_file(
            _policy_tensors(model), str(tmp), metadata={"format": FORMAT, "agent": agent, "save_id": save_id}
        )
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, weights)
    finally:
        tmp.unlink(missing_ok=True)
    path = directory / POLICY_META
    atomic_write_json(path, _policy_meta(model, agent, hyperparameters, save_id))
    return path


def save_policy(
    model: BaseAlgorithm, run_dir: str | Path, agent: str, hyperparameters: Mapping[str, Any]
) -> Path:
    """Write the policy as ``policy.safetensors`` + ``policy.json`` in ``run_dir`` (no pickle).

    Args:
        model: An SB3 model with Box observation and action spaces.
        run_dir: Output directory (created if needed).
        agent: ``"ppo"`` | ``"sac"`` | ``"a2c"``.
        hyperparameters: JSON-serialisable constructor arguments (``policy_kwargs`` with JSON values).

    Returns:
        Path of ``policy.json``.
    """
    return write_policy_files(model, Path(run_dir), agent, hyperparameters)


def _load_zip(p: Path, allow_pickle: bool, env: Any, device: str, agent: str | None) -> BaseAlgorithm:
    if not allow_pickle:
        raise PickleRefusedError(
            f"{p} is not an aigc-rl safetensors policy: SB3 .zip files hold pickled objects that can execute "
            "code when loaded (handed case G1, DLR-RM/stable-baselines3#1852). Load the run directory (policy.safetensors + policy.json) "
            "instead, or pass allow_pickle=True only for a file you created yourself"
        )
    errors = []
    for name, cls in [(agent, ALGOS[agent])] if agent else list(ALGOS.items()):
        try:
            return cls.load(str(p), env=env, device=device)
        except Exception as e:  # wrong algorithm class: try the next one
            errors.append(f"{name}: {e}")
    raise UserFileError(f"{p}: could not load as an SB3 {'/'.join(ALGOS)} model ({'; '.join(errors)})")


def _policy_dir(p: Path) -> Path:
    """The directory holding the policy files for ``p`` (a run, a checkpoint or a policy file)."""
    d = p.parent if p.is_file() else p
    if (d / POLICY_META).is_file() or (d / POLICY_WEIGHTS).is_file():
        return d
    ckpt = latest_complete_checkpoint(d / "checkpoints")  # an interrupted run: its newest checkpoint
    if ckpt is not None:
        return ckpt
    raise ModelNotFoundError(
        f"{d} holds no {POLICY_META} + {POLICY_WEIGHTS} and no complete checkpoint: is it a run written by "
        f"`aigc-rl train --env {ENV_ID}`? (resume an unfinished run with --resume)"
    )


def load_policy(
    path: str | Path,
    allow_pickle: bool = False,
    env: Any = None,
    device: str = "cpu",
    agent: str | None = None,
) -> BaseAlgorithm:
    """Rebuild a saved SB3 model from ``policy.safetensors`` + ``policy.json`` (no unpickling).

    Args:
        path: A run directory (its final policy, or else its newest complete checkpoint), a
            ``checkpoints/checkpoint-N`` directory, its ``policy.json``, or an SB3 ``.zip`` (only with
            ``allow_pickle``).
        allow_pickle: Permit loading SB3 ``.zip`` files, which unpickle Python objects and can run arbitrary
            code (stable-baselines3 #1852). Only for files you created yourself.
        env: Env (or VecEnv) to attach (for further training); default a spaces-only stub.
        device: torch device.
        agent: Algorithm of an SB3 ``.zip`` (``ppo`` | ``sac`` | ``a2c``); tried in turn when ``None``.

    Returns:
        The SB3 model (``predict`` works; ``learn`` works when ``env`` is given). Its ``num_timesteps`` is
        the step the policy was saved at.

    Raises:
        PickleRefusedError: ``path`` is a ``.zip`` (or not a safetensors policy) and ``allow_pickle`` is False.
        ModelNotFoundError: no policy at ``path``.
        UserFileError: malformed ``policy.json``, weights that are not safetensors or do not match it, or
            two files from different saves.
    """
    p = Path(path)
    if p.is_file() and p.name not in (POLICY_META, POLICY_WEIGHTS):
        return _load_zip(p, allow_pickle, env, device, agent)
    d = _policy_dir(p)
    meta_path, weights_path = d / POLICY_META, d / POLICY_WEIGHTS
    for f in (meta_path, weights_path):
        if not f.is_file():
            raise ModelNotFoundError(f"{f} is missing: the policy in {d} is incomplete")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserFileError(f"{meta_path} is not valid JSON: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserFileError(f"{meta_path}: not an aigc-rl policy (format {FORMAT!r} expected)")
    agent = meta.get("agent")
    if agent not in ALGOS:
        raise UserFileError(f"{meta_path}: unknown agent {agent!r}; expected one of {', '.join(ALGOS)}")
    try:
        state = load_file(str(weights_path))
        with open(weights_path, "rb") as fh:  # the header's metadata: the save this file belongs to
            n = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(n))
    except (SafetensorError, OSError, ValueError) as e:  # safetensors refuses anything else (e.g. a pickle)
        raise UserFileError(f"{weights_path} is not a valid safetensors file: {e}") from None
    saved_id = (header.get("__metadata__") or {}).get("save_id")
    if meta.get("save_id") is not None and saved_id != meta.get("save_id"):
        raise UserFileError(
            f"{weights_path} and {meta_path} come from different saves (a save was interrupted); load a "
            f"complete checkpoint from {d / 'checkpoints'} or resume the run with --resume"
        )
    obs_space = _space_from_json(meta["observation_space"], meta_path)
    act_space = _space_from_json(meta["action_space"], meta_path)
    hp = dict(meta["hyperparameters"])
    if env is None:
        env = SpacesEnv(obs_space, act_space)
        if agent == "sac":
            hp["buffer_size"] = 1  # no replay buffer needed to act
        if agent == "ppo":
            hp["batch_size"] = max(2, int(hp.get("n_steps", 2048)))  # one stub env: keep SB3's check quiet
    model = build_model(agent, hp, env, None, device)
    pol = {k[len("policy/") :]: v for k, v in state.items() if k.startswith("policy/")}
    try:
        model.policy.load_state_dict(pol, strict=True)
    except RuntimeError as e:
        msg = " ".join(str(e).split())
        raise UserFileError(
            f"{weights_path} does not match the policy described in {meta_path}: {msg}"
        ) from None
    if "extra/log_ent_coef" in state and isinstance(model, SAC) and model.log_ent_coef is not None:
        with torch.no_grad():
            model.log_ent_coef.copy_(state["extra/log_ent_coef"])
    model.num_timesteps = int(meta.get("num_timesteps", 0))
    return model
