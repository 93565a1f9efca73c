"""``aigc_rl/TokenGeneration-v0``: a causal LM's completion as an episode of token actions.

One episode is one completion: the agent picks the next token id at every step; the episode ends on a stop
token (EOS) or after ``max_new_tokens``; the reward model scores the decoded completion at the end. A per-token
KL penalty to a frozen reference LM can be added. The batched :class:`TokenGenerationVectorEnv` advances N
episodes with one forward pass over a shared KV cache (see :class:`aigc_rl.envs.text.kv_cache.CachedLM`).
The design follows RL4LMs (Ramamurthy et al. 2023, "Is Reinforcement Learning (Not) for Natural Language
Processing") and TextRL, without recomputing the context at every step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from aigc_rl.prompt_encoding import PromptEncoder, load_prompt_texts
from aigc_rl.rewards.resolve import resolve_reward

from .kl import KL_ESTIMATORS, kl_penalty_terms
from .kv_cache import CachedLM
from .lm import frozen_copy, resolve_lm, vocab_size
from .lm import stop_token_ids as _stop_ids

__all__ = ["TokenGenerationEnv", "TokenGenerationVectorEnv", "DEFAULT_REWARD"]

#: Default reward spec: relevance of the completion to the prompt plus half its distinct-2.
DEFAULT_REWARD = "relevance+distinct-2:0.5"


def score_episodes(
    reward_model: Any, texts: list[str], prompts: list[str]
) -> tuple[list[float], list[dict[str, Any]]]:
    """Score finished episodes independently of each other.

    Each completion is its own group (``group_ids`` 0..n-1) so that a group reward such as distinct-n never
    depends on which other sub-environments happened to finish in the same step.

    Returns:
        ``(totals, components)``: one float per episode (``None`` from the reward model counts as 0.0) and one
        dict per episode mapping every component name (and ``name/weighted``) to its value.
    """
    from aigc_rl.rewards.composite import CompositeReward

    kwargs: dict[str, Any] = {}
    if getattr(reward_model, "requires_group", False):
        kwargs["group_ids"] = list(range(len(texts)))
    if isinstance(reward_model, CompositeReward):
        total, comps = reward_model.compute(texts, prompts, **kwargs)
    else:
        total = reward_model(texts, prompts, **kwargs)
        comps = {reward_model.name: total}
    per = [{k: v[i] for k, v in comps.items()} for i in range(len(texts))]
    return [0.0 if t is None else float(t) for t in total], per


def as_int(action: Any, name: str = "action") -> int:
    """An integer action from an int, numpy scalar or 0-d/1-element array; raises TypeError otherwise."""
    arr = np.asarray(action)
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be one integer token id, got {action!r:.60} (dtype {arr.dtype})")
    return int(arr.reshape(()))


class _Episodes:
    """State of ``n`` token-generation episodes; shared by the single and the vector env."""

    def __init__(
        self,
        n: int,
        model: Any,
        tokenizer: Any,
        reward: Any,
        prompts: Sequence[str | dict[str, Any]] | str | None,
        task: str,
        split: str | None,
        max_prompt_tokens: int,
        max_new_tokens: int,
        stop_token_ids: Sequence[int] | int | None,
        kl_coef: float,
        kl_estimator: str,
        ref_model: Any,
        use_chat_template: bool | None,
        system_prompt: str | None,
        expose_logits: bool,
        device: str | None,
    ) -> None:
        if int(max_new_tokens) < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if kl_estimator not in KL_ESTIMATORS:
            raise ValueError(f"kl_estimator must be one of {KL_ESTIMATORS}, got {kl_estimator!r}")
        if not np.isfinite(kl_coef) or kl_coef < 0:
            raise ValueError(f"kl_coef must be a finite number >= 0, got {kl_coef}")
        self.n = n
        self.model, self.tokenizer = resolve_lm(model, tokenizer, device)
        self.reward_model = resolve_reward(reward)
        self.prompts = load_prompt_texts(prompts, task, split)
        self.encoder = PromptEncoder(self.tokenizer, max_prompt_tokens, use_chat_template, system_prompt)
        self.max_prompt_tokens = int(max_prompt_tokens)
        self.max_new_tokens = int(max_new_tokens)
        self.window = self.max_prompt_tokens + self.max_new_tokens
        self.vocab_size = vocab_size(self.model, self.tokenizer)
        self.stop_ids = frozenset(_stop_ids(self.model, self.tokenizer, stop_token_ids))
        self.kl_coef = float(kl_coef)
        self.kl_estimator = kl_estimator
        self.pad_id = int(self.tokenizer.pad_token_id)
        self.expose_logits = bool(expose_logits)
        self.policy_lm: CachedLM | None = None
        self.ref_lm: CachedLM | None = None
        if self.kl_coef > 0:
            ref = ref_model if ref_model is not None else frozen_copy(self.model)
            if not isinstance(ref, torch.nn.Module):
                ref, _ = resolve_lm(ref, self.tokenizer, device)
            self.ref_model = ref
            self.ref_lm = CachedLM(ref, n, self.pad_id)
        if self.kl_coef > 0 or self.expose_logits:
            self.policy_lm = CachedLM(self.model, n, self.pad_id)
        self.ids = np.full((n, self.window), self.pad_id, dtype=np.int64)
        self.mask = np.zeros((n, self.window), dtype=np.int64)
        self.prompt_index = np.zeros(n, dtype=np.int64)
        self.prompt_len = np.zeros(n, dtype=np.int64)
        self.generated: list[list[int]] = [[] for _ in range(n)]
        self.kl_sum = np.zeros(n, dtype=np.float64)
        self.logp: torch.Tensor | None = None
        self.ref_logp: torch.Tensor | None = None
        self.next_logits: torch.Tensor | None = None

    # -- spaces
    def single_spaces(self) -> tuple[spaces.Dict, spaces.Discrete]:
        shape = (self.window,)
        obs = spaces.Dict(
            {
                "input_ids": spaces.Box(low=0, high=self.vocab_size - 1, shape=shape, dtype=np.int64),
                "attention_mask": spaces.Box(low=0, high=1, shape=shape, dtype=np.int64),
            }
        )
        return obs, spaces.Discrete(self.vocab_size)

    def obs(self, rows: Sequence[int] | None = None) -> dict[str, np.ndarray]:
        if rows is None:
            return {"input_ids": self.ids.copy(), "attention_mask": self.mask.copy()}
        r = rows[0]
        return {"input_ids": self.ids[r].copy(), "attention_mask": self.mask[r].copy()}

    # -- episode logic
    def start(
        self, rows: Sequence[int], rngs: Sequence[np.random.Generator], options: dict | None = None
    ) -> list[dict]:
        """Begin a new episode in each of ``rows`` with a prompt drawn from the row's generator."""
        seqs, infos = [], []
        fixed = (options or {}).get("prompt_index")
        scalar = bool(np.isscalar(fixed))
        if fixed is not None and not scalar and len(fixed) != self.n:
            raise ValueError(
                f"options['prompt_index'] must be one int or {self.n} ints (one per sub-env), got {fixed!r}"
            )
        for r in rows:
            if fixed is None:
                idx = int(rngs[r].integers(len(self.prompts)))
            else:
                idx = int(fixed) if scalar else int(fixed[r])
            if not 0 <= idx < len(self.prompts):
                raise ValueError(
                    f"options['prompt_index']={idx} is outside the prompt set (0..{len(self.prompts) - 1})"
                )
            ids = self.encoder(self.prompts[idx])
            self.prompt_index[r], self.prompt_len[r] = idx, len(ids)
            self.ids[r] = self.pad_id
            self.mask[r] = 0
            self.ids[r, self.window - len(ids) :] = ids
            self.mask[r, self.window - len(ids) :] = 1
            self.generated[r] = []
            self.kl_sum[r] = 0.0
            seqs.append(ids)
            infos.append({"prompt": self.prompts[idx], "prompt_index": idx, "prompt_tokens": len(ids)})
        for lm in (self.policy_lm, self.ref_lm):
            if lm is not None:
                lm.set_rows(list(rows), seqs)
        return infos

    def apply(
        self, rows: Sequence[int], actions: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
        """Append one token per row; return (rewards, terminated, truncated, infos) for ``rows``."""
        k = len(rows)
        rewards = np.zeros(k, dtype=np.float64)
        terminated = np.zeros(k, dtype=bool)
        truncated = np.zeros(k, dtype=bool)
        infos: list[dict[str, Any]] = [{} for _ in range(k)]
        if k == 0:
            return rewards, terminated, truncated, infos
        if self.kl_coef > 0:
            assert self.logp is not None and self.ref_logp is not None
            idx = torch.as_tensor(list(rows), dtype=torch.long)
            act = torch.as_tensor(list(actions), dtype=torch.long)
            kl = (
                kl_penalty_terms(self.logp[idx, act], self.ref_logp[idx, act], self.kl_estimator)
                .cpu()
                .numpy()
            )
        for j, (r, a) in enumerate(zip(rows, actions, strict=True)):
            self.ids[r, :-1] = self.ids[r, 1:]
            self.mask[r, :-1] = self.mask[r, 1:]
            self.ids[r, -1] = a
            # a generated EOS is a real token, even when EOS == pad (case C2, huggingface/trl#1623)
            self.mask[r, -1] = 1
            self.generated[r].append(a)
            if self.kl_coef > 0:
                self.kl_sum[r] += kl[j]
                rewards[j] -= self.kl_coef * kl[j]
                infos[j]["kl"] = float(kl[j])
            terminated[j] = a in self.stop_ids
            truncated[j] = not terminated[j] and len(self.generated[r]) >= self.max_new_tokens
        done = [j for j in range(k) if terminated[j] or truncated[j]]
        if done:
            texts, prompts = [], []
            for j in done:
                gen = self.generated[rows[j]]
                body = gen[:-1] if terminated[j] else gen  # the stop token itself is not text
                texts.append(self.tokenizer.decode(body, skip_special_tokens=True))
                prompts.append(self.prompts[self.prompt_index[rows[j]]])
            scores, comps = score_episodes(self.reward_model, texts, prompts)
            for j, text, prompt, score, comp in zip(done, texts, prompts, scores, comps, strict=True):
                r = rows[j]
                rewards[j] += score
                infos[j].update(
                    text=text,
                    prompt=prompt,
                    score=score,
                    reward_components=comp,
                    num_tokens=len(self.generated[r]),
                    kl_sum=float(self.kl_sum[r]),
                    completion_ids=tuple(self.generated[r]),
                )
        return rewards, terminated, truncated, infos

    def push(self, rows: Sequence[int], actions: Sequence[int]) -> None:
        for lm in (self.policy_lm, self.ref_lm):
            if lm is not None and len(rows):
                lm.push(list(actions), rows=list(rows))

    def forward(self, live: bool) -> None:
        """Compute next-token logits for every row (when a KL penalty or exposed logits need them)."""
        if self.policy_lm is None:
            return
        if not live:  # every episode just ended: the next call is a reset of all rows
            self.logp = self.ref_logp = self.next_logits = None
            return
        logits = self.policy_lm.forward()
        self.next_logits = logits
        if self.ref_lm is not None:
            self.logp = torch.log_softmax(logits, dim=-1)
            self.ref_logp = torch.log_softmax(self.ref_lm.forward(), dim=-1)

    def render(self, r: int) -> str:
        ids = self.ids[r][self.mask[r] == 1].tolist()
        return self.tokenizer.decode(ids, skip_special_tokens=False)


_ARGS_DOC = """
    Arguments:
        model: The policy LM: a ``transformers`` causal LM object or a name for
            :func:`aigc_rl.models.load_causal_lm` (default: the embedded ``smollm2-135m-instruct``). The env
            needs it for the vocabulary size, for the policy log-probabilities of the KL penalty, and for
            ``expose_logits``; pass the object your agent trains so both see the same weights.
        tokenizer: Its tokenizer (required with a model object).
        reward: Reward at episode end: a spec for :func:`aigc_rl.rewards.composite.make_composite`
            (default ``"relevance+distinct-2:0.5"``), a ``RewardModel`` object, or a callable
            ``f(completions, prompts=..., **kw) -> list[float | None]``.
        prompts: Prompt strings or ``{"prompt": ...}`` dicts, or a JSONL path; ``None`` uses ``task``.
        task: Shipped prompt set ``"content"`` | ``"support"`` | ``"education"`` (default ``"content"``).
        split: ``"train"`` (default) or ``"eval"``.
        max_prompt_tokens: Prompt length limit in tokens (default 96); longer prompts lose tokens from the left
            of the user content, chat-template markers kept (case C4, huggingface/trl#3644).
        max_new_tokens: Completion length limit (default 32): the episode is truncated after this many steps.
        stop_token_ids: Token ids that terminate the episode (default: EOS of the tokenizer and the model's
            generation config; ``()`` never terminates).
        kl_coef: Weight beta of the per-token KL penalty (default 0: off).
        kl_estimator: ``"k1"`` (log-ratio) or ``"k3"`` (default; never negative), Schulman 2020.
        ref_model: Frozen reference LM of the KL penalty (default: a frozen copy of ``model`` made at
            construction).
        use_chat_template: Format prompts with the tokenizer's chat template (``None``: when it has one).
        system_prompt: Optional system message for the chat template.
        expose_logits: Run the policy forward pass in the env and expose ``next_token_logits`` (used by
            :class:`aigc_rl.agents.rollout.LMRollout` to sample without a second forward pass).
        device: torch device for a model loaded by name.
        render_mode: ``None`` or ``"ansi"`` (returns the decoded context).
"""


class _EpisodeViews:
    """Read-only views of the shared :class:`_Episodes` state, for the single and the batched env."""

    _ep: _Episodes

    @property
    def model(self) -> Any:
        """The policy LM."""
        return self._ep.model

    @property
    def tokenizer(self) -> Any:
        return self._ep.tokenizer

    @property
    def reward_model(self) -> Any:
        return self._ep.reward_model

    @property
    def prompts(self) -> list[str]:
        return self._ep.prompts


class TokenGenerationEnv(_EpisodeViews, gym.Env[dict[str, np.ndarray], np.int64]):
    __doc__ = f"""Generate one completion token by token; reward the finished text.

    ## Description
    A prompt is drawn from the prompt set with the env's seeded generator and formatted with the tokenizer's
    chat template. Each step the agent chooses the next token id; the env appends it to the context. The
    decoded completion is scored by the reward model when the episode ends.

    ## Action Space
    ``Discrete(vocab_size)``: the next token id (``vocab_size`` = rows of the LM head, 49,152 for SmolLM2).

    ## Observation Space
    ``Dict`` of two ``Box(shape=(L,), dtype=int64)`` with ``L = max_prompt_tokens + max_new_tokens``:

    * ``"input_ids"`` in ``[0, vocab_size - 1]``: prompt then generated tokens, **right-aligned** (left padded
      with the pad id); the last entry is the most recent token.
    * ``"attention_mask"`` in ``{{0, 1}}``: 1 for real tokens, 0 for padding. The mask, never the token id,
      marks padding (case C1, huggingface/transformers#34658: SmolLM2's pad id equals its EOS id).

    ## Rewards
    ``r_t = -kl_coef * KL_t`` at every step (0 without KL penalty), plus the reward model's score of the
    decoded completion (the stop token excluded, special tokens skipped) on the last step. ``KL_t`` is the
    chosen estimator of KL(policy || reference) at the sampled token, ``log pi`` from ``model``; the value in
    ``info["kl"]`` is exactly the one in the reward (case D1, huggingface/trl#1161).

    ## Episode End
    * Termination: the action is a stop token (EOS by default); the stop token is part of the episode (one
      step, one mask entry) but not of the text. A first token EOS gives a valid one-step episode scored on
      ``""`` (case B2, CarperAI/trlx#373).
    * Truncation: ``max_new_tokens`` tokens were generated.

    ## Info
    ``reset``: ``prompt``, ``prompt_index``, ``prompt_tokens``. Every step with a KL penalty: ``kl``. Last
    step: ``text``, ``prompt``, ``score`` (reward model value), ``reward_components`` (every component's raw
    value and ``name/weighted`` contribution), ``num_tokens``, ``kl_sum``, ``completion_ids``.
    {_ARGS_DOC}
    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 1}
    # gymnasium annotates spaces.Dict as Space[dict[str, Space]], although its samples are dicts of arrays
    # (the env's observation type), so this correct declaration needs the targeted ignore.
    observation_space: spaces.Dict  # type: ignore[assignment]
    action_space: spaces.Discrete

    def __init__(
        self,
        model: Any = None,
        tokenizer: Any = None,
        reward: Any = DEFAULT_REWARD,
        prompts: Sequence[str | dict[str, Any]] | str | None = None,
        task: str = "content",
        split: str | None = "train",
        max_prompt_tokens: int = 96,
        max_new_tokens: int = 32,
        stop_token_ids: Sequence[int] | int | None = None,
        kl_coef: float = 0.0,
        kl_estimator: str = "k3",
        ref_model: Any = None,
        use_chat_template: bool | None = None,
        system_prompt: str | None = None,
        expose_logits: bool = False,
        device: str | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.render_mode = render_mode
        self._ep = _Episodes(
            1,
            model,
            tokenizer,
            reward,
            prompts,
            task,
            split,
            max_prompt_tokens,
            max_new_tokens,
            stop_token_ids,
            kl_coef,
            kl_estimator,
            ref_model,
            use_chat_template,
            system_prompt,
            expose_logits,
            device,
        )
        self.observation_space, self.action_space = self._ep.single_spaces()
        self._done = True

    @property
    def next_token_logits(self) -> torch.Tensor | None:
        """Policy logits for the next token, float32 ``(vocab_size,)``; ``None`` unless ``expose_logits`` or a
        KL penalty is on, and after the episode ended."""
        lg = self._ep.next_logits
        return None if lg is None else lg[0]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode. ``options={"prompt_index": i}`` picks prompt ``i`` instead of a random one."""
        super().reset(seed=seed)
        (info,) = self._ep.start([0], [self.np_random], options)
        self._ep.forward(live=True)
        self._done = False
        return self._ep.obs([0]), info

    def step(self, action: Any):
        if self._done:
            raise RuntimeError("the episode has ended: call reset() before step()")
        a = as_int(action)
        if not self.action_space.contains(np.int64(a)):
            raise ValueError(f"action {a} is not a token id in [0, {self.action_space.n - 1}]")
        rewards, term, trunc, infos = self._ep.apply([0], [a])
        self._done = bool(term[0] or trunc[0])
        if not self._done:
            self._ep.push([0], [a])
        self._ep.forward(live=not self._done)
        return self._ep.obs([0]), float(rewards[0]), bool(term[0]), bool(trunc[0]), infos[0]

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self._ep.render(0)
        return None


class TokenGenerationVectorEnv(_EpisodeViews, VectorEnv):
    __doc__ = f"""``num_envs`` token-generation episodes advanced together with one forward pass per step.

    Same episodes, spaces (batched), rewards and infos as :class:`TokenGenerationEnv`; the sub-env ``i`` is
    seeded with ``seed + i``. With a KL penalty or ``expose_logits``, the policy (and reference) LM run one
    ``(num_envs, 1)`` forward pass per step over a shared KV cache; a new episode in one sub-env prefills only
    its prompt and splices it into the cache.

    Autoreset follows Gymnasium 1.x ``NEXT_STEP`` mode: the step after an episode ends resets that sub-env,
    ignores its action, and returns the first observation of the next episode with reward 0 and
    ``terminated = truncated = False``.

    Extra argument:
        num_envs: Number of parallel episodes (default 8).
    {_ARGS_DOC}"""

    metadata = {"render_modes": ["ansi"], "render_fps": 1, "autoreset_mode": AutoresetMode.NEXT_STEP}
    single_observation_space: spaces.Dict
    single_action_space: spaces.Discrete

    def __init__(
        self,
        num_envs: int = 8,
        model: Any = None,
        tokenizer: Any = None,
        reward: Any = DEFAULT_REWARD,
        prompts: Sequence[str | dict[str, Any]] | str | None = None,
        task: str = "content",
        split: str | None = "train",
        max_prompt_tokens: int = 96,
        max_new_tokens: int = 32,
        stop_token_ids: Sequence[int] | int | None = None,
        kl_coef: float = 0.0,
        kl_estimator: str = "k3",
        ref_model: Any = None,
        use_chat_template: bool | None = None,
        system_prompt: str | None = None,
        expose_logits: bool = False,
        device: str | None = None,
        render_mode: str | None = None,
    ) -> None:
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if render_mode is not None and render_mode != "ansi":
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        self._ep = _Episodes(
            self.num_envs,
            model,
            tokenizer,
            reward,
            prompts,
            task,
            split,
            max_prompt_tokens,
            max_new_tokens,
            stop_token_ids,
            kl_coef,
            kl_estimator,
            ref_model,
            use_chat_template,
            system_prompt,
            expose_logits,
            device,
        )
        self.single_observation_space, self.single_action_space = self._ep.single_spaces()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._rngs: list[np.random.Generator] = []
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._started = False

    @property
    def next_token_logits(self) -> torch.Tensor | None:
        """Policy logits for the next token of every sub-env, float32 ``(num_envs, vocab_size)`` (rows whose
        episode just ended hold stale values); ``None`` unless ``expose_logits`` or a KL penalty is on."""
        return self._ep.next_logits

    def reset(self, *, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None):
        """Reset every sub-env.

        Args:
            seed: One int (sub-env ``i`` gets ``seed + i``) or a list of ``num_envs`` ints.
            options: ``{"prompt_index": i}`` (every sub-env) or ``{"prompt_index": [i_0, ..., i_{n-1}]}`` picks the
                prompts of this reset instead of drawing them (autoresets draw again).
        """
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"expected {self.num_envs} seeds (one per sub-env), got {len(seeds)}")
        if seed is not None or not self._rngs:
            self._rngs = [seeding.np_random(s)[0] for s in seeds]
            self._np_random, self._np_random_seed = seeding.np_random(seeds[0])
        infos: dict[str, Any] = {}
        for i, info in enumerate(self._ep.start(range(self.num_envs), self._rngs, options)):
            infos = self._add_info(infos, info, i)
        self._ep.forward(live=True)
        self._autoreset[:] = False
        self._started = True
        return self._ep.obs(), infos

    def step(self, actions: Any):
        if not self._started:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(
                f"actions must be an integer array of shape ({self.num_envs},), got shape {actions.shape} dtype "
                f"{actions.dtype}"
            )
        resetting = np.flatnonzero(self._autoreset).tolist()
        acting = np.flatnonzero(~self._autoreset).tolist()
        bad = [i for i in acting if not 0 <= actions[i] < self.single_action_space.n]
        if bad:
            raise ValueError(
                f"actions {actions[bad].tolist()} of sub-envs {bad} are not token ids in [0, {self.single_action_space.n - 1}]"
            )
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        infos: dict[str, Any] = {}
        for i, info in zip(resetting, self._ep.start(resetting, self._rngs), strict=True):
            infos = self._add_info(infos, info, i)
        acts = [int(actions[i]) for i in acting]
        r, te, tr, step_infos = self._ep.apply(acting, acts)
        rewards[acting], terminated[acting], truncated[acting] = r, te, tr
        for i, info in zip(acting, step_infos, strict=True):
            if info:
                infos = self._add_info(infos, info, i)
        cont = [i for j, i in enumerate(acting) if not (te[j] or tr[j])]
        cont_acts = [a for j, a in enumerate(acts) if not (te[j] or tr[j])]
        ended = [i for j, i in enumerate(acting) if te[j] or tr[j]]
        # Rows that just ended still need a pending token for the batched forward; their cache row is replaced
        # at the next step's autoreset.
        self._ep.push(cont + ended, cont_acts + [actions[i] for i in ended])
        self._ep.forward(live=bool(cont) or bool(resetting))
        self._autoreset = terminated | truncated
        return self._ep.obs(), rewards, terminated, truncated, infos

    def render(self) -> tuple[str, ...] | None:
        if self.render_mode == "ansi":
            return tuple(self._ep.render(i) for i in range(self.num_envs))
        return None
