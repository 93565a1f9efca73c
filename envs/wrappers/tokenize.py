"""Turn a text observation (``gymnasium.spaces.Text``) into token ids + attention mask that SB3 accepts (case E1, DLR-RM/stable-baselines3#1704)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["TokenizeObservation"]


class TokenizeObservation(gym.ObservationWrapper):
    """Replace a ``spaces.Text`` observation by ``Dict(input_ids, attention_mask)`` fixed-length Boxes.

    stable-baselines3 rejects ``spaces.Text`` (stable-baselines3 #1704, case E1); this wrapper gives any env
    with string observations the same observation layout as ``aigc_rl/TokenGeneration-v0``: token ids
    right-aligned (left padded), int64 ``(max_length,)``, and a 0/1 attention mask of the same shape. The text
    is formatted with the tokenizer's chat template when it has one and cut from the left of the user content
    when too long (case C4, huggingface/trl#3644), see :class:`aigc_rl.prompt_encoding.PromptEncoder`.

    Args:
        env: An env whose ``observation_space`` is ``spaces.Text``.
        tokenizer: A ``transformers`` tokenizer (fast or slow).
        max_length: Observation length in tokens.
        use_chat_template: ``True``/``False``/``None`` (when the tokenizer has one).
        vocab_size: Upper bound of token ids (default ``len(tokenizer)``; pass the LM head size when larger).

    Raises:
        TypeError: the env's observation space is not ``spaces.Text``.
    """

    def __init__(
        self,
        env: gym.Env,
        tokenizer: Any,
        max_length: int = 128,
        use_chat_template: bool | None = None,
        vocab_size: int | None = None,
    ) -> None:
        if not isinstance(env.observation_space, spaces.Text):
            raise TypeError(
                f"TokenizeObservation wraps envs with a spaces.Text observation, got {env.observation_space}"
            )
        super().__init__(env)
        from aigc_rl.prompt_encoding import PromptEncoder

        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.encoder = PromptEncoder(tokenizer, self.max_length, use_chat_template)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.pad_id = int(tokenizer.pad_token_id)
        v = int(vocab_size) if vocab_size is not None else len(tokenizer)
        shape = (self.max_length,)
        self.observation_space = spaces.Dict(
            {
                "input_ids": spaces.Box(0, v - 1, shape=shape, dtype=np.int64),
                "attention_mask": spaces.Box(0, 1, shape=shape, dtype=np.int64),
            }
        )

    def observation(self, observation: str) -> dict[str, np.ndarray]:
        ids = self.encoder(str(observation))
        out = {
            "input_ids": np.full(self.max_length, self.pad_id, dtype=np.int64),
            "attention_mask": np.zeros(self.max_length, dtype=np.int64),
        }
        out["input_ids"][self.max_length - len(ids) :] = ids
        out["attention_mask"][self.max_length - len(ids) :] = 1
        return out
