"""``aigc_rl/LatentImage-v0``: the agent chooses the latent input of a GAN/VAE to draw a digit of a target class.

Latent-space RL after RL-GAN-Net (Sarmad et al. 2019, an agent that controls a GAN's latent input) and the
latent-walk view of generation: the generator is frozen, the policy is the "prompt" in latent space.
"""

from __future__ import annotations

import math
import os
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from aigc_rl.rewards import RewardModel, make_composite
from aigc_rl.rewards.spec import IMAGE_DEFAULT_SPEC
from aigc_rl.types import ImageGenerator

__all__ = [
    "LatentImageEnv",
    "LatentImageVectorEnv",
    "LatentImageTask",
    "DEFAULT_REWARD",
    "MODES",
    "ACTION_MAPPINGS",
]

#: Default composite reward: quality (reward-classifier probability of the target class), realism (VAE
#: reconstruction error, minimised, so its weight multiplies ``-mse``) and diversity (distance to recent
#: samples of the same class).
DEFAULT_REWARD = IMAGE_DEFAULT_SPEC  # one definition, beside the image presets in aigc_rl.rewards.spec

MODES = ("latent", "walk")
ACTION_MAPPINGS = ("gaussian", "linear")


def _as_image_reward(reward: Any) -> RewardModel:
    """A reward model as given, or a plain callable ``f(images, prompts=None, **kw) -> N values`` wrapped so that
    its output is validated like every reward's (case A1, huggingface/trl#6533: wrong count or NaN is an error naming it).

    Raises:
        TypeError: neither a reward model nor a callable.
    """
    if isinstance(reward, RewardModel):
        return reward
    if not callable(reward):
        raise TypeError(
            f"reward must be a spec string like 'target-class+realism:5', a RewardModel or a callable, got "
            f"{type(reward).__name__}"
        )
    from aigc_rl.rewards.image import ImageRewardModel

    class _FunctionImageReward(ImageRewardModel):
        def score(self, completions: Any, prompts: Any = None, **kwargs: Any) -> Any:
            return reward(completions, prompts=prompts, **kwargs)

    wrapped = _FunctionImageReward()
    wrapped.name = getattr(reward, "__name__", type(reward).__name__)  # type: ignore[misc]
    return wrapped


class LatentImageTask:
    """Generator, reward model, latent mapping and sample memory shared by the single and the batched env.

    Args:
        generator: ``"gan"`` | ``"vae"`` (shipped 8×8 digits models), a model directory written by
            ``aigc-rl pretrain``, or an :class:`aigc_rl.types.ImageGenerator` (a module with
            ``generate(z) -> (N, H, W)``, ``latent_dim`` and ``image_shape``).
        reward: Reward spec string (see :func:`aigc_rl.rewards.make_composite`) or a reward model taking image
            batches (``reward(images, target=[...], ...)``).
        target_class: Fixed target class, or ``None`` for a uniformly random class per episode.
        n_classes: Number of classes (10 digits).
        mode: ``"latent"`` (one step: the action is the latent) or ``"walk"`` (``walk_steps`` steps: the
            action moves the latent).
        walk_steps: Episode length in ``walk`` mode.
        step_size: Largest move per latent coordinate per step in ``walk`` mode.
        action_mapping: ``"gaussian"``: ``z = sqrt(2) erfinv(a * erf(B / sqrt(2)))``, so a uniform action is a
            standard-normal latent truncated to ``[-B, B]``; ``"linear"``: ``z = B * a``.
        latent_bound: ``B``, the largest absolute latent coordinate (default 3).
        noise_in_obs: Put a fresh prior sample ``z0`` (truncated to ``[-B, B]``, divided by ``B``) into each
            observation, which a deterministic policy can turn into varied images.
        memory_size: Recent images kept per class and passed to group rewards as ``context_images``.
        normalize: Reward normalisation for spec strings.
        reward_kwargs: Per-component keyword arguments for spec strings.
        device: torch device of the generator.

    Raises:
        ValueError: bad mode, mapping, sizes or target class (the message names the argument).
        TypeError: ``generator`` is neither a name/directory nor an image generator.
    """

    def __init__(
        self,
        generator: str | os.PathLike[str] | ImageGenerator = "gan",
        reward: str | RewardModel = DEFAULT_REWARD,
        target_class: int | None = None,
        n_classes: int = 10,
        mode: str = "latent",
        walk_steps: int = 8,
        step_size: float = 0.5,
        action_mapping: str = "gaussian",
        latent_bound: float = 3.0,
        noise_in_obs: bool = True,
        memory_size: int = 32,
        normalize: str = "none",
        reward_kwargs: dict[str, dict[str, Any]] | None = None,
        device: str = "cpu",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if action_mapping not in ACTION_MAPPINGS:
            raise ValueError(f"action_mapping must be one of {ACTION_MAPPINGS}, got {action_mapping!r}")
        if mode == "walk" and int(walk_steps) < 1:
            raise ValueError(f"walk_steps must be >= 1, got {walk_steps}")
        if not latent_bound > 0 or not step_size > 0:
            raise ValueError(f"latent_bound and step_size must be > 0, got {latent_bound} and {step_size}")
        if int(memory_size) < 0:
            raise ValueError(f"memory_size must be >= 0, got {memory_size}")
        if target_class is not None and not 0 <= int(target_class) < n_classes:
            raise ValueError(
                f"target_class must be None or an int in 0..{n_classes - 1}, got {target_class!r}"
            )
        loaded: object
        if isinstance(generator, (str, bytes)) or hasattr(generator, "__fspath__"):
            from aigc_rl.generators.store import load_model

            self.generator_name = str(generator)
            loaded = load_model(str(generator), device=device)
        else:
            self.generator_name = type(generator).__name__
            loaded = generator
        if not isinstance(loaded, ImageGenerator):
            raise TypeError(
                "generator must be 'gan', 'vae', a model directory, or a module with generate(z), latent_dim and "
                f"image_shape; got {self.generator_name}"
            )
        self.generator: ImageGenerator = loaded
        self.device = torch.device(device)
        self.latent_dim = int(self.generator.latent_dim)
        self.image_shape = tuple(int(s) for s in self.generator.image_shape)
        self.reward: RewardModel = (
            make_composite(reward, normalize=normalize, reward_kwargs=reward_kwargs)
            if isinstance(reward, str)
            else _as_image_reward(reward)
        )
        self.reward_spec = (
            reward if isinstance(reward, str) else getattr(reward, "name", type(reward).__name__)
        )
        self.target_class = None if target_class is None else int(target_class)
        self.n_classes = int(n_classes)
        self.mode = mode
        self.walk_steps = int(walk_steps) if mode == "walk" else 1
        self.step_size = float(step_size)
        self.action_mapping = action_mapping
        self.latent_bound = float(latent_bound)
        self.noise_in_obs = bool(noise_in_obs) or mode == "walk"
        self.memory_size = int(memory_size)
        self._erf_b = math.erf(self.latent_bound / math.sqrt(2.0))
        # ring buffer of recent images per class: (n_classes, memory_size, H, W), fill count and next slot
        self._mem = np.zeros((self.n_classes, self.memory_size, *self.image_shape), dtype=np.float32)
        self._mem_n = np.zeros(self.n_classes, dtype=np.int64)
        self._mem_pos = np.zeros(self.n_classes, dtype=np.int64)
        self._fast = self._fast_components()

        n_obs = self.n_classes + (self.latent_dim if self.noise_in_obs else 0) + (1 if mode == "walk" else 0)
        low = np.zeros(n_obs, dtype=np.float32)
        if self.noise_in_obs:
            low[self.n_classes : self.n_classes + self.latent_dim] = -1.0
        self.observation_space = spaces.Box(low=low, high=np.ones(n_obs, dtype=np.float32), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(self.latent_dim,), dtype=np.float32)

    # ---- latents -------------------------------------------------------------------------------------------
    def sample_prior(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` standard-normal latents truncated to ``[-B, B]``, float32 ``(n, latent_dim)``.

        Inverse-CDF sampling: ``z = sqrt(2) erfinv(u * erf(B / sqrt(2)))`` with ``u ~ U(-1, 1)`` is exactly
        ``N(0, 1)`` conditioned on ``|z| <= B`` (the same map as the ``gaussian`` action mapping).
        """
        u = torch.from_numpy(rng.random((n, self.latent_dim), dtype=np.float32)).mul_(2.0).sub_(1.0)
        z = torch.special.erfinv(u.mul_(self._erf_b)).mul_(math.sqrt(2.0))
        return z.clamp_(-self.latent_bound, self.latent_bound).numpy()

    def action_to_latent(self, actions: np.ndarray) -> np.ndarray:
        """Map actions in ``[-1, 1]^d`` (clipped) to latents in ``[-B, B]^d`` (``latent`` mode), float32."""
        a = torch.from_numpy(np.array(actions, dtype=np.float32)).clamp_(-1.0, 1.0)
        if self.action_mapping == "linear":
            z = a.mul_(self.latent_bound)
        else:
            z = torch.special.erfinv(a.mul_(self._erf_b)).mul_(math.sqrt(2.0))
        return z.clamp_(-self.latent_bound, self.latent_bound).numpy()

    def latent_to_action(self, z: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`action_to_latent` (for latents inside ``[-B, B]``)."""
        z = np.clip(np.asarray(z, dtype=np.float64), -self.latent_bound, self.latent_bound)
        if self.action_mapping == "linear":
            return (z / self.latent_bound).astype(np.float32)
        return (torch.erf(torch.from_numpy(z / math.sqrt(2.0))).numpy() / self._erf_b).astype(np.float32)

    def observe(self, targets: np.ndarray, z: np.ndarray | None, steps_left: np.ndarray | None) -> np.ndarray:
        """Observations ``(n, obs_dim)`` float32: target one-hot, ``z / B`` (if in obs), fraction of steps left."""
        n = len(targets)
        obs = np.zeros((n, self.observation_space.shape[0]), dtype=np.float32)
        obs[np.arange(n), targets] = 1.0
        if self.noise_in_obs and z is not None:
            obs[:, self.n_classes : self.n_classes + self.latent_dim] = np.clip(
                z / self.latent_bound, -1.0, 1.0
            )
        if self.mode == "walk" and steps_left is not None:
            obs[:, -1] = steps_left / self.walk_steps
        return obs

    # ---- generation and reward -----------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, z: np.ndarray) -> np.ndarray:
        """Images float32 ``(n, H, W)`` in ``[0, 1]`` for latents ``(n, latent_dim)`` (one generator call)."""
        t = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32)).to(self.device)
        return self.generator.generate(t).float().clamp_(0.0, 1.0).cpu().numpy()

    def clear_memory(self) -> None:
        """Forget the recent samples (done on every seeded reset, for determinism)."""
        self._mem_n[:] = 0
        self._mem_pos[:] = 0

    def memory(self) -> tuple[np.ndarray, np.ndarray]:
        """Recent images ``(M, H, W)`` and their classes ``(M,)`` (at most ``memory_size`` per class)."""
        valid = np.arange(self.memory_size)[None, :] < self._mem_n[:, None]
        classes = np.broadcast_to(np.arange(self.n_classes)[:, None], valid.shape)
        return self._mem[valid], classes[valid]

    def _remember(self, images: np.ndarray, targets: np.ndarray) -> None:
        k = self.memory_size
        for c in np.unique(targets):
            imgs = images[targets == c][-k:]
            slots = (self._mem_pos[c] + np.arange(len(imgs))) % k
            self._mem[c, slots] = imgs
            self._mem_pos[c] = (self._mem_pos[c] + len(imgs)) % k
            self._mem_n[c] = min(k, self._mem_n[c] + len(imgs))

    def _fast_components(self) -> list[tuple[Any, float]] | None:
        """Components when the reward is image rewards summed without normalisation (vectorised path)."""
        from aigc_rl.rewards.composite import CompositeReward
        from aigc_rl.rewards.image import ImageRewardModel

        r = self.reward
        if isinstance(r, ImageRewardModel):
            return [(r, 1.0)]
        if (
            isinstance(r, CompositeReward)
            and all(v == "none" for v in r.normalize.values())
            and all(isinstance(c, ImageRewardModel) for c, _ in r.components)
        ):
            return list(r.components)
        return None

    def score(self, images: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Reward per image and per-component values; then store the images in the memory.

        Args:
            images: float32 ``(n, H, W)`` in ``[0, 1]``.
            targets: int64 ``(n,)`` target classes.

        Returns:
            ``(rewards float64 (n,), components)``: ``components`` maps each component name to its raw values
            and ``"<name>/weighted"`` to its weighted contribution, float64 arrays of length ``n`` with ``NaN``
            where a component does not apply (it then contributes 0).
        """
        targets = np.asarray(targets, dtype=np.int64)
        kwargs: dict[str, Any] = {"target": targets}
        grouped = self.memory_size > 0 and bool(getattr(self.reward, "requires_group", False))
        if grouped:
            ctx, cls = self.memory()
            if len(ctx):
                kwargs["context_images"] = ctx
                kwargs["context_groups"] = cls
        n = len(images)
        comps: dict[str, np.ndarray] = {}
        if self._fast is not None:
            x_img = torch.from_numpy(images)
            total = np.zeros(n, dtype=np.float64)
            for rm, w in self._fast:
                x = rm.raw_array(x_img, None, **kwargs)
                contrib = (-w if rm.direction == "minimize" else w) * x
                na = np.isnan(contrib)
                total += np.where(na, 0.0, contrib) if na.any() else contrib
                comps[rm.name] = x
                comps[f"{rm.name}/weighted"] = contrib
            rewards = total
        else:
            kwargs["target"] = targets.tolist()
            compute = getattr(self.reward, "compute", None)
            if compute is not None:
                values, raw = compute(images, None, **kwargs)
            else:
                values = self.reward(images, None, **kwargs)
                raw = {self.reward.name: values}
            comps = {
                k: np.array([np.nan if v is None else v for v in vs], dtype=np.float64)
                for k, vs in raw.items()
            }
            rewards = np.array([0.0 if v is None else float(v) for v in values], dtype=np.float64)
        if grouped:
            self._remember(images, targets)
        return rewards, comps


def _frame(image: np.ndarray, scale: int = 8) -> np.ndarray:
    """uint8 RGB frame ``(H*scale, W*scale, 3)``, dark strokes on white."""
    g = (255 * (1.0 - np.clip(image, 0.0, 1.0))).astype(np.uint8)
    g = np.kron(g, np.ones((scale, scale), dtype=np.uint8))
    return np.repeat(g[:, :, None], 3, axis=2)


class LatentImageEnv(gym.Env[np.ndarray, np.ndarray]):
    """Latent-space control of a frozen image generator (GAN or VAE) to draw a target digit.

    ## Description
    Each episode draws a target class (uniformly from the env's seeded ``np_random`` unless ``target_class``
    is fixed or ``options={"target": c}`` is passed to ``reset``) and a prior latent ``z0 ~ N(0, I)``
    truncated to ``[-B, B]``. In ``latent`` mode (default) the agent answers with one latent vector and the
    generator draws the image; in ``walk`` mode the agent moves the latent ``walk_steps`` times from ``z0``.
    The reward combines image rewards for quality, realism and creativity.

    ## Action Space
    ``Box(-1, 1, (latent_dim,), float32)`` (latent_dim = 8 for the shipped models). ``latent`` mode with
    ``action_mapping="gaussian"`` (default): ``z = sqrt(2) * erfinv(a * erf(B / sqrt(2)))``, so a uniformly random
    action is exactly a prior sample truncated to ``[-B, B]`` (B = ``latent_bound`` = 3); ``"linear"``:
    ``z = B * a``. ``walk`` mode: ``z <- clip(z + step_size * a, -B, B)``.

    ## Observation Space
    ``Box(float32)`` of size ``n_classes + latent_dim`` (+1 in walk mode): the target class one-hot (``[0, 1]``),
    then ``z0 / B`` (``[-1, 1]``; in walk mode the current latent) when ``noise_in_obs`` (default), then in walk
    mode the fraction of steps left (``[0, 1]``).

    ## Rewards
    The composite reward (default :data:`DEFAULT_REWARD` = ``target-class:1 + realism:5 +
    image-diversity:3``): reward-classifier probability of the target class (``[0, 1]``), minus 5 × the VAE
    reconstruction MSE, plus 3 × the mean RMS distance (``[0, 1]``) to the last ``memory_size`` images generated
    for the same class. ``info["rewards"]`` holds each component's raw value and weighted contribution,
    ``info["image"]`` the image (float32 ``(H, W)`` in ``[0, 1]``), ``info["latent"]`` and ``info["target"]``.

    ## Episode End
    ``latent`` mode: terminated after one step. ``walk`` mode: terminated after ``walk_steps`` steps (the
    remaining steps are part of the observation). Never truncated by the env itself.

    ## Arguments
    ``generator`` (``"gan"``), ``reward`` (spec string or reward model), ``target_class`` (None = random),
    ``mode`` (``"latent"``), ``walk_steps`` (8), ``step_size`` (0.5), ``action_mapping`` (``"gaussian"``),
    ``latent_bound`` (3.0), ``noise_in_obs`` (True), ``memory_size`` (32), ``normalize``, ``reward_kwargs``,
    ``device``, ``render_mode`` (None | ``"rgb_array"``): see :class:`LatentImageTask`. ``latent_task``: a
    prebuilt task (the other task arguments are then ignored).

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self, latent_task: LatentImageTask | None = None, render_mode: str | None = None, **kwargs: Any
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode {render_mode!r} is not supported; use None or 'rgb_array'")
        self.task = latent_task if latent_task is not None else LatentImageTask(**kwargs)
        self.render_mode = render_mode
        self.observation_space = self.task.observation_space
        self.action_space = self.task.action_space
        self._target: int | None = None
        self._z = np.zeros(self.task.latent_dim, dtype=np.float32)
        self._t = 0
        self._image: np.ndarray | None = None

    def _obs(self) -> np.ndarray:
        left = np.array([self.task.walk_steps - self._t], dtype=np.float32)
        return self.task.observe(np.array([self._target]), self._z[None], left)[0]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.task.clear_memory()
        if options and options.get("target") is not None:
            t = int(options["target"])
            if not 0 <= t < self.task.n_classes:
                raise ValueError(f"options['target']={t} is outside 0..{self.task.n_classes - 1}")
            self._target = t
        elif self.task.target_class is not None:
            self._target = self.task.target_class
        else:
            self._target = int(self.np_random.integers(self.task.n_classes))
        self._z = self.task.sample_prior(self.np_random, 1)[0]
        self._t = 0
        self._image = None
        return self._obs(), {"target": self._target}

    def step(self, action: np.ndarray):
        if self._target is None:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(action, dtype=np.float32).reshape(self.action_space.shape)
        if self.task.mode == "latent":
            z = self.task.action_to_latent(a[None])[0]
        else:
            z = np.clip(
                self._z + self.task.step_size * np.clip(a, -1.0, 1.0),
                -self.task.latent_bound,
                self.task.latent_bound,
            )
        z = z.astype(np.float32)
        image = self.task.generate(z[None])
        rewards, comps = self.task.score(image, np.array([self._target]))
        self._t += 1
        self._z = z
        self._image = image[0]
        terminated = self._t >= self.task.walk_steps
        info = {
            "target": self._target,
            "image": image[0],
            "latent": z.copy(),
            "rewards": {k: (None if np.isnan(v[0]) else float(v[0])) for k, v in comps.items()},
        }
        return self._obs(), float(rewards[0]), bool(terminated), False, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        img = self._image if self._image is not None else np.zeros(self.task.image_shape, dtype=np.float32)
        return _frame(img)


class LatentImageVectorEnv(VectorEnv):
    """Batched ``LatentImage-v0``: one generator call and one reward call per step for all sub-environments.

    Same spaces, rewards and options as :class:`LatentImageEnv` (see there). Sub-environments whose episode
    ends are reset in the same step (``AutoresetMode.SAME_STEP``): the returned observation starts the next
    episode and ``info["final_obs"]`` (with mask ``info["_final_obs"]``) holds the last one. ``info`` also
    holds ``"image"`` (float32 ``(num_envs, H, W)``), ``"target"`` (int64), ``"latent"`` (float32
    ``(num_envs, latent_dim)``) and ``"rewards"`` (component -> float64 array ``(num_envs,)``, ``NaN`` where the
    component does not apply). Group rewards compare images of the same target within the batch and with
    the task's recent-sample memory.

    Args:
        num_envs: Number of sub-environments (>= 1).
        latent_task: A prebuilt :class:`LatentImageTask`; otherwise ``**kwargs`` build one.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 1, latent_task: LatentImageTask | None = None, **kwargs: Any) -> None:
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        kwargs.pop("render_mode", None)
        self.task = latent_task if latent_task is not None else LatentImageTask(**kwargs)
        self.num_envs = int(num_envs)
        self.single_observation_space = self.task.observation_space
        self.single_action_space = self.task.action_space
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self._targets = np.zeros(self.num_envs, dtype=np.int64)
        self._z = np.zeros((self.num_envs, self.task.latent_dim), dtype=np.float32)
        self._t = np.zeros(self.num_envs, dtype=np.int64)

    def _new_episodes(self, mask: np.ndarray, targets: Any = None) -> None:
        n = int(mask.sum())
        if n == 0:
            return
        if n == self.num_envs:
            mask = slice(None)  # type: ignore[assignment]  # every sub-env: plain slices are cheaper
        if targets is not None:
            t = np.broadcast_to(np.asarray(targets, dtype=np.int64), (self.num_envs,))[mask]
        elif self.task.target_class is not None:
            t = np.full(n, self.task.target_class, dtype=np.int64)
        else:
            t = self.np_random.integers(self.task.n_classes, size=n)
        self._targets[mask] = t
        self._z[mask] = self.task.sample_prior(self.np_random, n)
        self._t[mask] = 0

    def _obs(self) -> np.ndarray:
        return self.task.observe(self._targets, self._z, (self.task.walk_steps - self._t).astype(np.float32))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seed)
            self.task.clear_memory()
        targets = options.get("target") if options else None
        if targets is not None:
            t = np.asarray(targets, dtype=np.int64)
            if t.min() < 0 or t.max() >= self.task.n_classes:
                raise ValueError(
                    f"options['target'] must hold ints in 0..{self.task.n_classes - 1}, got {targets!r}"
                )
        self._new_episodes(np.ones(self.num_envs, dtype=bool), targets)
        return self._obs(), {"target": self._targets.copy()}

    def step(self, actions: Any):
        a = np.asarray(actions, dtype=np.float32).reshape(self.num_envs, self.task.latent_dim)
        if self.task.mode == "latent":
            z = self.task.action_to_latent(a)
        else:
            b = self.task.latent_bound
            z = np.clip(self._z + self.task.step_size * np.clip(a, -1.0, 1.0), -b, b).astype(np.float32)
        images = self.task.generate(z)
        targets = self._targets.copy()
        rewards, comps = self.task.score(images, targets)
        self._z = z
        self._t += 1
        terminated = self._t >= self.task.walk_steps
        truncated = np.zeros(self.num_envs, dtype=bool)
        info: dict[str, Any] = {"target": targets, "image": images, "latent": z.copy(), "rewards": comps}
        if terminated.any():
            info["final_obs"] = self._obs()
            info["_final_obs"] = terminated.copy()
            self._new_episodes(terminated)
        return self._obs(), rewards, terminated, truncated, info
