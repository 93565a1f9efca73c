"""The text task that the env, the trainers and evaluation share: prompt rows, a tokenizer and a reward model.

:class:`TextTask` is built once per run (``aigc_rl.train.make_text_task``) and handed to the TRL agent (which
trains on exactly these prompts with exactly this reward object), to evaluation and to
``aigc_rl/TextCompletion-v0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aigc_rl.prompt_encoding import PromptEncoder
from aigc_rl.prompts import load_prompts
from aigc_rl.rewards import RewardModel, make_composite
from aigc_rl.rewards.resolve import resolve_reward

__all__ = ["TextTask"]


class TextTask:
    """A text-generation task: prompt rows, a tokenizer and a reward model, shared by the env and the agents.

    The TRL agent trains on exactly these prompts with exactly this reward object (not a copy of its logic).

    Args:
        task: Shipped prompt set name (``content``, ``support``, ``education``); ignored when ``prompts`` is given.
        prompts: A prompt source (a file, a saved dataset, a Hub id: :func:`aigc_rl.prompts.load_prompts`), or
            a list of strings / row dicts with a ``"prompt"`` key.
        split: ``"train"``, ``"eval"`` or ``"all"``.
        reward: A reward spec string (``"quality+creativity"``) or a :class:`~aigc_rl.rewards.RewardModel`.
        tokenizer: Hugging Face tokenizer of the policy (used for observations and to decode token actions).
        model: Used only to load a tokenizer when ``tokenizer`` is None (hub id, directory or embedded name).
        max_prompt_tokens: Prompt length limit in tokens, chat template included (case C4, huggingface/trl#3644).
        max_new_tokens: Completion length limit in tokens.
        normalize: Reward normalisation for spec strings (see :class:`~aigc_rl.rewards.CompositeReward`).
        reward_kwargs: Per-component keyword arguments for spec strings.
        system: Optional system message for the chat template.
        prompt_column: The column of a prompt source holding the prompt text (see
            :func:`aigc_rl.prompts.load_prompts`).
        reference_columns: Columns of a prompt source gathered into each row's ``references``.
    """

    def __init__(
        self,
        task: str = "content",
        prompts: str | Sequence[Any] | None = None,
        split: str = "train",
        reward: str | RewardModel = "quality+creativity",
        tokenizer: Any = None,
        model: Any = None,
        max_prompt_tokens: int = 128,
        max_new_tokens: int = 64,
        normalize: str = "none",
        reward_kwargs: dict[str, dict[str, Any]] | None = None,
        system: str | None = None,
        prompt_column: str = "prompt",
        reference_columns: Sequence[str] | None = None,
    ) -> None:
        if max_prompt_tokens < 1 or max_new_tokens < 1:
            raise ValueError(
                f"max_prompt_tokens and max_new_tokens must be >= 1, got {max_prompt_tokens} and {max_new_tokens}"
            )
        if prompts is None or isinstance(prompts, str):
            self.rows = load_prompts(
                prompts if prompts is not None else task,
                split,
                prompt_column=prompt_column,
                reference_columns=reference_columns,
            )
        else:
            self.rows = [dict(p) if isinstance(p, dict) else {"prompt": str(p)} for p in prompts]
            for i, r in enumerate(self.rows):
                r.setdefault("id", f"prompt-{i:05d}")
            if not self.rows:
                raise ValueError("prompts is empty; pass at least one prompt")
        if tokenizer is None:
            from transformers import AutoTokenizer

            from aigc_rl.models import DEFAULT_MODEL, resolve_model

            tokenizer = AutoTokenizer.from_pretrained(
                resolve_model(model if isinstance(model, str) else DEFAULT_MODEL)
            )
        self.tokenizer = tokenizer
        self.reward: RewardModel = (
            make_composite(reward, normalize=normalize, reward_kwargs=reward_kwargs)
            if isinstance(reward, str)
            # a plain callable gets the output validation of case A1, huggingface/trl#6533
            else resolve_reward(reward)
        )
        self.max_prompt_tokens = int(max_prompt_tokens)
        self.max_new_tokens = int(max_new_tokens)
        self.system = system
        self.vocab_size = len(tokenizer)
        self._encoder = PromptEncoder(tokenizer, self.max_prompt_tokens, system_prompt=system)
        self._encoded: dict[int, tuple[list[int], str]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def encode(self, index: int) -> tuple[list[int], str]:
        """Prompt token ids (chat-formatted, length-limited) and the user content kept, cached per index."""
        if index not in self._encoded:
            self._encoded[index] = self._encoder.encode(self.rows[index]["prompt"])
        return self._encoded[index]

    def observation(self, index: int) -> dict[str, np.ndarray]:
        """Left-padded prompt ids and mask, int64 arrays of shape ``(max_prompt_tokens,)``."""
        ids, _ = self.encode(index)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        out_ids = np.full(self.max_prompt_tokens, pad, dtype=np.int64)
        mask = np.zeros(self.max_prompt_tokens, dtype=np.int64)
        out_ids[self.max_prompt_tokens - len(ids) :] = ids
        mask[self.max_prompt_tokens - len(ids) :] = 1
        return {"input_ids": out_ids, "attention_mask": mask}

    def columns(self, indices: Sequence[int]) -> dict[str, list[Any]]:
        """Dataset columns other than id/prompt/split, one entry per index (passed to reward models)."""
        keys = sorted({k for i in indices for k in self.rows[i] if k not in ("id", "prompt", "split")})
        return {k: [self.rows[i].get(k) for i in indices] for k in keys}

    def decode_action(self, action: Any) -> str:
        """A completion string, or token ids (entries ``>= vocab_size`` are padding) decoded to text."""
        if isinstance(action, str):
            return action
        ids = [int(t) for t in np.asarray(action).reshape(-1) if 0 <= int(t) < self.vocab_size]
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def score(
        self,
        indices: Sequence[int],
        completions: Sequence[str],
        group_ids: Sequence[Any] | None = None,
        **extra: Any,
    ) -> tuple[list[float | None], dict[str, list[float | None]]]:
        """Reward and per-component values for completions of the prompts at ``indices``.

        ``extra`` columns (one value per completion, e.g. the sampler's ``finished`` flags) are passed to the
        reward with the task's own columns."""
        prompts = [self.encode(i)[1] for i in indices]
        kwargs: dict[str, Any] = self.columns(indices)
        kwargs.update(extra)
        if group_ids is not None:
            kwargs["group_ids"] = list(group_ids)
        compute = getattr(self.reward, "compute", None)
        if compute is not None:
            return compute(list(completions), prompts, **kwargs)
        values = self.reward(list(completions), prompts, **kwargs)
        return values, {self.reward.name: values}
