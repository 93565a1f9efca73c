"""SB3 ``VecEnv`` adapters over the latent image env, and a spaces-only stub env.

:class:`LatentVecEnv` (``--vec-env dummy``, the default) presents :class:`~aigc_rl.envs.image.latent_image.LatentImageVectorEnv` (one generator
call per step for all sub-environments) to stable-baselines3 (Raffin et al. 2021), and can save and restore
everything its future depends on (:meth:`LatentVecEnv.get_state` / :meth:`LatentVecEnv.set_state`) so that a
resumed training continues exactly where it stopped. :class:`LatentSubprocVecEnv` (``--vec-env subproc``) runs
each sub-environment as a :class:`~aigc_rl.envs.image.latent_image.LatentImageEnv` in its own process (SB3's
``SubprocVecEnv``), with the same state save and restore.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import SubprocVecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from aigc_rl.envs.image.latent_image import LatentImageEnv, LatentImageTask, LatentImageVectorEnv

__all__ = ["LatentVecEnv", "LatentSubprocVecEnv", "CheckpointableLatentEnv", "SpacesEnv"]


class LatentVecEnv(VecEnv):
    """SB3 ``VecEnv`` view of :class:`LatentImageVectorEnv` (one generator call per step, same-step autoreset).

    ``infos[i]`` holds ``"rewards"`` (component -> value), ``"target"``, and on episode end
    ``"terminal_observation"`` and ``"TimeLimit.truncated"`` (always False: episodes end by termination).

    Args:
        venv: The batched env.
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

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
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

    # -- state for exact resume ---------------------------------------------------------------------------
    def _state_arrays(self) -> dict[str, np.ndarray]:
        v, task = self.venv, self.venv.task
        return {
            "targets": v._targets,
            "z": v._z,
            "t": v._t,
            "mem": task._mem,
            "mem_n": task._mem_n,
            "mem_pos": task._mem_pos,
        }

    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Everything the env's future depends on: arrays and JSON values.

        Returns:
            ``(arrays, meta)``: ``arrays`` maps ``targets`` (int64 ``(num_envs,)``), ``z`` (float32
            ``(num_envs, latent_dim)``), ``t`` (int64 ``(num_envs,)``) and the task's recent-sample memory
            (``mem`` float32 ``(n_classes, memory_size, H, W)``, ``mem_n``, ``mem_pos`` int64
            ``(n_classes,)``); ``meta`` holds the bit-generator state of the env's ``np_random`` (JSON).
        """
        v = self.venv
        return (
            {k: np.ascontiguousarray(a).copy() for k, a in self._state_arrays().items()},
            {"np_random": v.np_random.bit_generator.state},
        )

    def set_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned (on an env built with the same task settings).

        Raises:
            ValueError: an array's shape differs from this env's (a different ``n_envs`` or task).
        """
        v = self.venv
        for k, dst in self._state_arrays().items():
            src = np.asarray(arrays[k])
            if src.shape != dst.shape:
                raise ValueError(f"env state {k!r} has shape {src.shape}, this env needs {dst.shape}")
            dst[...] = src
        rng = np.random.Generator(getattr(np.random, meta["np_random"]["bit_generator"])())
        rng.bit_generator.state = meta["np_random"]
        v._np_random = rng


class CheckpointableLatentEnv(LatentImageEnv):
    """:class:`LatentImageEnv` that can save and restore everything its future depends on (one sub-process of
    :class:`LatentSubprocVecEnv`)."""

    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """``(arrays, meta)``: ``target`` int64 ``()`` (-1 before the first reset), ``z`` float32
        ``(latent_dim,)``, ``t`` int64 ``()``, the task's ``mem`` / ``mem_n`` / ``mem_pos`` (as in
        :meth:`LatentVecEnv.get_state`); ``meta`` holds the bit-generator state of ``np_random`` (JSON)."""
        task = self.task
        arrays = {
            "target": np.array(-1 if self._target is None else self._target, dtype=np.int64),
            "z": self._z.copy(),
            "t": np.array(self._t, dtype=np.int64),
            "mem": task._mem.copy(),
            "mem_n": task._mem_n.copy(),
            "mem_pos": task._mem_pos.copy(),
        }
        return arrays, {"np_random": self.np_random.bit_generator.state}

    def set_state(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_state` returned.

        Raises:
            ValueError: an array's shape differs from this env's.
        """
        task = self.task
        for k, dst in (
            ("z", self._z),
            ("mem", task._mem),
            ("mem_n", task._mem_n),
            ("mem_pos", task._mem_pos),
        ):
            src = np.asarray(arrays[k])
            if src.shape != dst.shape:
                raise ValueError(f"env state {k!r} has shape {src.shape}, this env needs {dst.shape}")
            dst[...] = src
        target = int(np.asarray(arrays["target"]))
        self._target = None if target < 0 else target
        self._t = int(np.asarray(arrays["t"]))
        rng = np.random.Generator(getattr(np.random, meta["np_random"]["bit_generator"])())
        rng.bit_generator.state = meta["np_random"]
        self._np_random = rng


def _make_env(generator: str, reward: str, env_kwargs: Mapping[str, Any]) -> CheckpointableLatentEnv:
    """Build one sub-process's env (runs in the worker process)."""
    import torch

    from aigc_rl.rewards.composite import make_composite
    from aigc_rl.rewards.spec import image_reward_pairs

    # Ctrl-C reaches the whole process group: the main process stops training at the next update and saves a
    # checkpoint, which needs every worker alive, so a worker leaves SIGINT to it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)  # N workers on N cores; each draws one image per step
    task = LatentImageTask(
        generator=generator, reward=make_composite(image_reward_pairs(reward)), device="cpu", **env_kwargs
    )
    # Load lazily built reward models now (as the main process does before seeding, see latent_train._warm_up).
    task.score(task.generate(np.zeros((1, task.latent_dim), dtype=np.float32)), np.zeros(1, dtype=np.int64))
    task.clear_memory()
    return CheckpointableLatentEnv(latent_task=task)


class LatentSubprocVecEnv(SubprocVecEnv):
    """``n_envs`` latent image envs, each in its own process (SB3's ``SubprocVecEnv``).

    Each process draws one image per step with its own generator copy and keeps its own recent-sample memory,
    so the group rewards (``image-diversity``, ``class-coverage``, ``image-novelty``) compare a sample with the
    earlier samples of its own process, not with the other environments' samples of the same step as
    :class:`LatentVecEnv` does. ``infos[i]`` holds ``"rewards"`` and ``"target"`` like :class:`LatentVecEnv`
    (plus the env's ``"image"`` and ``"latent"``).

    Args:
        n_envs: Number of processes (>= 1).
        generator: ``"gan"`` | ``"vae"`` | a generator directory.
        reward: The image reward spec (``target-class:1+realism:5``).
        env_kwargs: Other :class:`LatentImageTask` arguments (JSON values).
        start_method: ``multiprocessing`` start method (default: SB3's, ``forkserver`` where available).
    """

    def __init__(
        self,
        n_envs: int,
        generator: str,
        reward: str,
        env_kwargs: Mapping[str, Any] | None = None,
        start_method: str | None = None,
    ) -> None:
        import functools

        ekw = dict(env_kwargs or {})
        fns: list[Any] = [
            functools.partial(_make_env, str(generator), reward, ekw) for _ in range(int(n_envs))
        ]
        super().__init__(fns, start_method=start_method)

    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Every process's env state, stacked: each array of :meth:`CheckpointableLatentEnv.get_state` with a
        leading ``(num_envs,)`` axis; ``meta["np_random"]`` is the list of the processes' generator states."""
        states = self.env_method("get_state")
        arrays = {k: np.stack([a[k] for a, _ in states]) for k in states[0][0]}
        return arrays, {"np_random": [m["np_random"] for _, m in states], "vec_env": "subproc"}

    def set_state(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_state` returned (on processes built with the same settings).

        Raises:
            ValueError: the state is not of a subproc env with this many processes, or an array's shape differs.
        """
        rngs = meta.get("np_random")
        if meta.get("vec_env") != "subproc" or not isinstance(rngs, list) or len(rngs) != self.num_envs:
            raise ValueError(f"the saved env state is not of {self.num_envs} subproc envs")
        for i in range(self.num_envs):
            self.env_method(
                "set_state",
                {k: np.asarray(a)[i] for k, a in arrays.items()},
                {"np_random": rngs[i]},
                indices=i,
            )


class SpacesEnv(gym.Env):
    """A do-nothing env carrying only spaces: lets SB3 build a model to load weights into (no stepping).

    Args:
        observation_space: The policy's observation space.
        action_space: The policy's action space.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        self.observation_space = observation_space
        self.action_space = action_space

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        return self.observation_space.sample(), 0.0, True, False, {}
