"""KV-cached rollouts of a causal-LM policy in :class:`~aigc_rl.envs.text.token_generation.TokenGenerationVectorEnv`.

:class:`LMRollout` drives the batched token env: at every step it samples one token per sub-env from the
policy LM's next-token distribution and steps the env, until every sub-env has finished its quota of
episodes. The policy's logits come either from the env's own forward pass (``expose_logits=True`` or a KL
penalty, and the policy is the env's ``model``: one forward pass per step for both) or from the helper's own
KV-cached forward (:class:`~aigc_rl.envs.text.kv_cache.CachedLM`) for any other policy LM. Either way each
step costs one ``(num_envs, 1)`` forward pass, as in ``transformers`` ``generate`` (see
``benchmarks/bench_rollout.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from aigc_rl.envs.text.kv_cache import CachedLM

__all__ = ["Episode", "RolloutResult", "LMRollout", "sample_tokens"]


@dataclass
class Episode:
    """One finished completion.

    Attributes:
        prompt: The prompt text (user content, before the chat template).
        prompt_ids: Prompt token ids as the policy saw them (template applied, truncated), int64 ``(P,)``.
        completion_ids: Generated token ids including the stop token when it terminated the episode (counted
            once, case C2, huggingface/trl#1623), int64 ``(T,)``.
        logprobs: ``log pi(a_t | s_t)`` of each generated token at the sampling temperature (before
            top-k/top-p truncation, as TRL computes it), float32 ``(T,)``.
        text: The decoded completion (the stop token excluded).
        score: The reward model's value of the completion.
        episode_return: Sum of the env's rewards over the episode (score minus the KL penalty).
        components: Every reward component (raw value and ``name/weighted`` contribution).
        kl_sum: Summed per-token KL penalty term (0 without KL penalty).
        terminated: True when a stop token ended the episode, False when truncated at ``max_new_tokens``.
    """

    prompt: str
    prompt_ids: np.ndarray
    completion_ids: np.ndarray
    logprobs: np.ndarray
    text: str
    score: float
    episode_return: float
    components: dict[str, Any] = field(default_factory=dict)
    kl_sum: float = 0.0
    terminated: bool = False


@dataclass
class RolloutResult:
    """Episodes of one :meth:`LMRollout.collect` call plus timing.

    Attributes:
        episodes: Finished episodes, sub-env by sub-env in order of completion.
        num_tokens: Generated tokens in ``episodes`` (stop tokens included).
        seconds: Wall-clock time of the call, reset and prefill included.
        steps: Env steps taken.
    """

    episodes: list[Episode]
    num_tokens: int
    seconds: float
    steps: int

    @property
    def tokens_per_second(self) -> float:
        return self.num_tokens / self.seconds if self.seconds > 0 else float("nan")

    @property
    def mean_score(self) -> float:
        return float(np.mean([e.score for e in self.episodes])) if self.episodes else float("nan")


def sample_tokens(
    logits: torch.Tensor,
    generator: torch.Generator | None,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one token per row; return ``(tokens int64 (n,), logprobs float32 (n,))``.

    ``temperature == 0`` is greedy decoding (log-probabilities then at temperature 1). Top-k and nucleus
    (top-p, Holtzman et al. 2020) filtering use ``transformers``' logits warpers.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    logits = logits.float()
    if temperature == 0:
        tokens = logits.argmax(-1)
        logp = torch.log_softmax(logits, -1)
        return tokens, logp.gather(-1, tokens[:, None]).squeeze(-1)
    scaled = logits / temperature if temperature != 1.0 else logits
    if not top_k and top_p >= 1.0:  # plain sampling: one softmax serves sampling and the log-probs
        probs = torch.softmax(scaled, -1)
        tokens = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        return tokens, probs.gather(-1, tokens[:, None]).squeeze(-1).log()
    from transformers import TopKLogitsWarper, TopPLogitsWarper

    filtered = scaled
    if top_k:
        filtered = TopKLogitsWarper(top_k=int(top_k))(None, filtered)
    if top_p < 1.0:
        filtered = TopPLogitsWarper(top_p=float(top_p))(None, filtered)
    tokens = torch.multinomial(torch.softmax(filtered, -1), 1, generator=generator).squeeze(-1)
    return tokens, torch.log_softmax(scaled, -1).gather(-1, tokens[:, None]).squeeze(-1)


class LMRollout:
    """Collect completions of a causal-LM policy from a batched token-generation env.

    Args:
        envs: A :class:`~aigc_rl.envs.text.token_generation.TokenGenerationVectorEnv` (e.g.
            ``gym.make_vec("aigc_rl/TokenGeneration-v0", num_envs=8, ...)``), possibly wrapped.
        policy: The policy LM. ``None`` means the env's ``model``. When it is the env's ``model`` and the env
            exposes logits (``expose_logits=True`` or a KL penalty), the env's forward pass is shared;
            otherwise the helper runs its own KV-cached forward pass.
        temperature: Sampling temperature (0 = greedy).
        top_k: Keep the k most likely tokens (0 = off).
        top_p: Nucleus sampling threshold (1.0 = off).
        seed: Seed of the helper's torch generator (sampling).

    Raises:
        TypeError: ``envs`` is not a token-generation vector env.
    """

    def __init__(
        self,
        envs: Any,
        policy: Any = None,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> None:
        from aigc_rl.envs.text.token_generation import TokenGenerationVectorEnv

        base = envs.unwrapped
        if not isinstance(base, TokenGenerationVectorEnv):
            raise TypeError(
                f"LMRollout drives a TokenGenerationVectorEnv (gym.make_vec('aigc_rl/TokenGeneration-v0', ...)), got "
                f"{type(base).__name__}"
            )
        self.envs = envs
        self.base = base
        self.policy = policy if policy is not None else base.model
        self.shared = self.policy is base.model and base._ep.policy_lm is not None
        self.temperature = float(temperature)
        self.top_k = int(top_k)
        self.top_p = float(top_p)
        self.generator = torch.Generator(device=next(self.policy.parameters()).device)
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(int(seed))
        self._own: CachedLM | None = None

    def _shared_logits(self) -> torch.Tensor:
        """The env's next-token logits float32 ``(num_envs, vocab_size)`` (shared forward pass); zeros when
        every episode ended at once (the next step resets them all and ignores the actions)."""
        logits = self.base.next_token_logits
        if logits is None:
            return torch.zeros(self.base.num_envs, int(self.base.single_action_space.n))
        return logits

    def _own_lm(self) -> CachedLM:
        if self._own is None:
            self._own = CachedLM(self.policy, self.base.num_envs, int(self.base.tokenizer.pad_token_id))
        return self._own

    @staticmethod
    def _seqs(obs: dict[str, np.ndarray], rows: list[int]) -> list[list[int]]:
        return [obs["input_ids"][r][obs["attention_mask"][r] == 1].tolist() for r in rows]

    @torch.no_grad()
    def collect(
        self, episodes_per_env: int = 1, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> RolloutResult:
        """Reset the env and run until every sub-env finished ``episodes_per_env`` episodes.

        Sub-envs that reach their quota keep stepping (their results are dropped) until the others finish,
        as rows of ``generate`` keep padding; every episode that is returned was run to its end.

        Args:
            episodes_per_env: Episodes per sub-env (``num_envs * episodes_per_env`` in total).
            seed: Passed to ``envs.reset`` (prompt choice).
            options: Passed to ``envs.reset``, e.g. ``{"prompt_index": [0, 1, ...]}``.

        Returns:
            A :class:`RolloutResult`.
        """
        n = self.base.num_envs
        t0 = time.perf_counter()
        obs, _ = self.envs.reset(seed=seed, options=options)
        own = None if self.shared else self._own_lm()
        if own is not None:
            own.set_rows(list(range(n)), self._seqs(obs, list(range(n))))
            logits = own.forward()
        else:
            logits = self._shared_logits()
        prompt_ids = [np.asarray(s, dtype=np.int64) for s in self._seqs(obs, list(range(n)))]
        toks: list[list[int]] = [[] for _ in range(n)]
        lps: list[list[float]] = [[] for _ in range(n)]
        done_count = np.zeros(n, dtype=np.int64)
        autoreset = np.zeros(n, dtype=bool)
        result: list[Episode] = []
        returns = np.zeros(n, dtype=np.float64)
        steps = 0
        while (done_count < episodes_per_env).any():
            tokens, logp = sample_tokens(logits, self.generator, self.temperature, self.top_k, self.top_p)
            actions = tokens.cpu().numpy().astype(np.int64)
            obs, rewards, terminated, truncated, infos = self.envs.step(actions)
            steps += 1
            logp_np = logp.cpu().numpy()
            for r in range(n):
                if autoreset[r]:
                    continue
                toks[r].append(int(actions[r]))
                lps[r].append(float(logp_np[r]))
                returns[r] += rewards[r]
            ended = terminated | truncated
            for r in np.flatnonzero(ended & ~autoreset).tolist():
                if done_count[r] < episodes_per_env:
                    result.append(
                        Episode(
                            prompt=str(infos["prompt"][r]),
                            prompt_ids=prompt_ids[r],
                            completion_ids=np.asarray(toks[r], dtype=np.int64),
                            logprobs=np.asarray(lps[r], dtype=np.float32),
                            text=str(infos["text"][r]),
                            score=float(infos["score"][r]),
                            episode_return=float(returns[r]),
                            components={
                                k: v[r]
                                for k, v in infos.get("reward_components", {}).items()
                                if not k.startswith("_")
                            },
                            kl_sum=float(infos["kl_sum"][r]),
                            terminated=bool(terminated[r]),
                        )
                    )
                done_count[r] += 1
            resetting = np.flatnonzero(autoreset).tolist()
            for r in resetting:
                prompt_ids[r] = np.asarray(self._seqs(obs, [r])[0], dtype=np.int64)
                toks[r], lps[r], returns[r] = [], [], 0.0
            if own is not None:
                acting = np.flatnonzero(~autoreset).tolist()
                own.set_rows(resetting, self._seqs(obs, resetting))
                own.push(actions[acting], rows=acting)
                logits = own.forward()
            else:
                logits = self._shared_logits()
            autoreset = ended
        seconds = time.perf_counter() - t0
        return RolloutResult(result, int(sum(len(e.completion_ids) for e in result)), seconds, steps)
