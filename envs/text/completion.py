"""``aigc_rl/TextCompletion-v0``: one step per episode; the action is a whole completion."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from aigc_rl.task import TextTask

__all__ = ["TextCompletionEnv", "TextCompletionVectorEnv"]


def _spaces(task: TextTask) -> tuple[spaces.Dict, spaces.MultiDiscrete]:
    obs = spaces.Dict(
        {
            "input_ids": spaces.Box(0, task.vocab_size - 1, shape=(task.max_prompt_tokens,), dtype=np.int64),
            "attention_mask": spaces.Box(0, 1, shape=(task.max_prompt_tokens,), dtype=np.int64),
        }
    )
    # vocab_size + 1 choices per position: the last one (== vocab_size) means "no token" (padding).
    act = spaces.MultiDiscrete(np.full(task.max_new_tokens, task.vocab_size + 1, dtype=np.int64))
    return obs, act


class TextCompletionEnv(gym.Env[dict[str, np.ndarray], np.ndarray]):
    """Text completion as a one-step episode.

    ## Description
    Each episode draws one prompt (uniformly, from the env's seeded ``np_random``) from a prompt set; the
    agent answers with a whole completion and receives the reward model's score. This is the task a TRL
    agent (GRPO, RLOO) optimises; :attr:`task` holds the prompts and the reward object it trains on.

    ## Action Space
    ``MultiDiscrete([vocab_size + 1] * max_new_tokens)``: completion token ids of the policy's tokenizer, the
    value ``vocab_size`` meaning "no token" (padding, ignored). ``step`` also accepts the completion as a
    ``str`` (what TRL-style agents produce); such an action is outside the declared space but handled.

    ## Observation Space
    ``Dict(input_ids=Box(0, vocab_size - 1, (max_prompt_tokens,), int64), attention_mask=Box(0, 1,
    (max_prompt_tokens,), int64))``: the prompt formatted with the chat template, left-padded; the mask, not the
    token id, marks padding (pad == EOS for SmolLM2, case C1, huggingface/transformers#34658). The prompt text is in ``info["prompt"]``.

    ## Rewards
    The reward model's value for the completion (a composite's weighted sum; ``None`` becomes 0.0).
    ``info["rewards"]`` holds every component's raw value and weighted contribution. Group rewards
    (distinct-n, self-BLEU) see a group of one here; use :class:`TextCompletionVectorEnv` with ``group_size``
    for sibling comparisons.

    ## Episode End
    Terminated after the single step; never truncated.

    ## Arguments
    ``task``, ``prompts``, ``split``, ``reward``, ``tokenizer``, ``model``, ``max_prompt_tokens`` (128),
    ``max_new_tokens`` (64), ``normalize``, ``reward_kwargs``, ``system``: see :class:`~aigc_rl.task.TextTask`.
    ``text_task``: a prebuilt :class:`~aigc_rl.task.TextTask` (the other task arguments are then ignored).

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 1}
    # gymnasium annotates spaces.Dict as Space[dict[str, Space]], although its samples are dicts of arrays
    # (the env's observation type), so this correct declaration needs the targeted ignore.
    observation_space: spaces.Dict  # type: ignore[assignment]
    action_space: spaces.MultiDiscrete

    def __init__(
        self, text_task: TextTask | None = None, render_mode: str | None = None, **kwargs: Any
    ) -> None:
        self.task = text_task if text_task is not None else TextTask(**kwargs)
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode {render_mode!r} is not supported; use None or 'ansi'")
        self.render_mode = render_mode
        self.observation_space, self.action_space = _spaces(self.task)
        self._index: int | None = None
        self._last = ""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if options and "prompt_index" in options:
            idx = int(options["prompt_index"])
            if not 0 <= idx < len(self.task):
                raise ValueError(f"options['prompt_index']={idx} is outside [0, {len(self.task)})")
        else:
            idx = int(self.np_random.integers(len(self.task)))
        self._index = idx
        row = self.task.rows[idx]
        return self.task.observation(idx), {
            "prompt": self.task.encode(idx)[1],
            "prompt_id": row["id"],
            "index": idx,
        }

    def step(self, action: Any):
        if self._index is None:
            raise RuntimeError("call reset() before step()")
        text = self.task.decode_action(action)
        values, comps = self.task.score([self._index], [text])
        reward = values[0] if values[0] is not None else 0.0
        idx, self._index = self._index, None
        self._last = text
        info = {
            "prompt": self.task.encode(idx)[1],
            "completion": text,
            "rewards": {k: v[0] for k, v in comps.items()},
        }
        return self.task.observation(idx), float(reward), True, False, info

    def render(self) -> str | None:
        return self._last if self.render_mode == "ansi" else None


class TextCompletionVectorEnv(VectorEnv):
    """Batched ``TextCompletion-v0``: one reward-model call per step for all sub-environments.

    Sub-environments come in groups of ``group_size`` that share a prompt each episode, so group rewards
    (distinct-n, self-BLEU, embedding diversity) compare the completions of one prompt, as in GRPO.
    Every step ends every episode; the next step's observation is a fresh prompt (same-step autoreset).

    Args:
        num_envs: Number of sub-environments; a multiple of ``group_size``.
        group_size: Sub-environments per prompt (default 1).
        **kwargs: See :class:`~aigc_rl.task.TextTask`, or ``text_task=``.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self, num_envs: int = 1, group_size: int = 1, text_task: TextTask | None = None, **kwargs: Any
    ):
        if num_envs < 1 or group_size < 1 or num_envs % group_size:
            raise ValueError(
                f"num_envs ({num_envs}) must be a positive multiple of group_size ({group_size})"
            )
        kwargs.pop("render_mode", None)
        self.task = text_task if text_task is not None else TextTask(**kwargs)
        self.num_envs = num_envs
        self.group_size = group_size
        self.single_observation_space, self.single_action_space = _spaces(self.task)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self._indices = np.zeros(num_envs, dtype=np.int64)

    def _draw(self) -> dict[str, np.ndarray]:
        groups = self.np_random.integers(len(self.task), size=self.num_envs // self.group_size)
        self._indices = np.repeat(groups, self.group_size)
        obs = [self.task.observation(int(i)) for i in self._indices]
        return {k: np.stack([o[k] for o in obs]) for k in ("input_ids", "attention_mask")}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seed)
        obs = self._draw()
        return obs, {"prompt": [self.task.encode(int(i))[1] for i in self._indices]}

    def step(self, actions: Any):
        texts = [
            self.task.decode_action(a)
            for a in (actions if isinstance(actions, (list, tuple)) else list(actions))
        ]
        if len(texts) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} actions, got {len(texts)}")
        idx = [int(i) for i in self._indices]
        values, comps = self.task.score(
            idx, texts, group_ids=[i // self.group_size for i in range(self.num_envs)]
        )
        rewards = np.array([v if v is not None else 0.0 for v in values], dtype=np.float64)
        info = {"prompt": [self.task.encode(i)[1] for i in idx], "completion": texts, "rewards": comps}
        obs = self._draw()
        terminated = np.ones(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        return obs, rewards, terminated, truncated, info
