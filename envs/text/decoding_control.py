"""``aigc_rl/DecodingControl-v0``: choose decoding settings per prompt for a frozen LM.

The agent sees a fixed-size embedding of the prompt and answers with decoding settings (temperature, top-p,
repetition penalty); the env samples a small group of completions from the frozen LM with those settings and
rewards the group's quality and creativity (default ``relevance + distinct-2``). One step per episode: a
contextual bandit over a continuous action, suited to SB3's SAC or PPO.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from aigc_rl.prompt_encoding import PromptEncoder, load_prompt_texts
from aigc_rl.rewards.resolve import resolve_reward

from .kv_cache import CachedLM
from .lm import resolve_lm, torch_generator
from .lm import stop_token_ids as _stop_ids

__all__ = ["DecodingControlEnv", "DEFAULT_RANGES", "sample_group"]

#: Physical range of each action component (``action = -1`` -> low, ``+1`` -> high, linear in between).
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.1, 2.0),
    "top_p": (0.5, 1.0),
    "repetition_penalty": (1.0, 2.0),
}
_SETTINGS = tuple(DEFAULT_RANGES)


@torch.no_grad()
def sample_group(
    model: Any,
    prompt_ids: Sequence[int],
    n: int,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    repetition_penalty: float,
    generator: torch.Generator,
    stop_ids: Sequence[int],
    pad_token_id: int,
) -> list[list[int]]:
    """Sample ``n`` completions of one prompt with a KV cache and ``transformers``' logits processors.

    Processors run in ``generate``'s order: repetition penalty (CTRL, Keskar et al. 2019: over the prompt and
    the completion so far), temperature, top-p (nucleus, Holtzman et al. 2020). Sampling uses ``generator``.

    Returns:
        ``n`` lists of token ids, each ending at (and including) its first stop token or at ``max_new_tokens``.
    """
    from transformers import RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopPLogitsWarper

    procs: list[Any] = []
    if repetition_penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(penalty=float(repetition_penalty)))
    procs.append(TemperatureLogitsWarper(temperature=float(temperature)))
    if top_p < 1.0:
        procs.append(TopPLogitsWarper(top_p=float(top_p)))
    lm = CachedLM(model, n, pad_token_id)
    lm.set_rows(list(range(n)), [list(prompt_ids)] * n)
    seqs = torch.tensor([list(prompt_ids)] * n, dtype=torch.long)
    out: list[list[int]] = [[] for _ in range(n)]
    done = torch.zeros(n, dtype=torch.bool)
    stops = torch.tensor(sorted(stop_ids), dtype=torch.long)
    for _ in range(max_new_tokens):
        scores = lm.forward().cpu()
        for p in procs:
            scores = p(seqs, scores)
        tokens = torch.multinomial(torch.softmax(scores, -1), 1, generator=generator).squeeze(-1)
        for r in np.flatnonzero(~done.numpy()):
            out[r].append(int(tokens[r]))
        done |= torch.isin(tokens, stops)
        if bool(done.all()):
            break
        seqs = torch.cat([seqs, tokens[:, None]], dim=-1)
        lm.push(tokens)
    return out


class DecodingControlEnv(gym.Env[np.ndarray, np.ndarray]):
    """Pick decoding settings for a prompt; the frozen LM samples a group of completions; reward their quality and
    creativity.

    ## Description
    Each episode draws a prompt (seeded ``np_random``), shows the agent its embedding, and takes one action: the
    decoding settings. The frozen LM (never trained here) samples ``n_samples`` completions of the chat-formatted
    prompt with those settings, using a torch generator seeded from the env's ``np_random`` (same seed, same
    completions). The reward model scores the group; the episode ends.

    ## Action Space
    ``Box(-1, 1, (3,), float32)``, linearly mapped to (defaults, change with ``ranges``):

    | index | setting              | action -1 | action +1 |
    |-------|----------------------|-----------|-----------|
    | 0     | temperature          | 0.1       | 2.0       |
    | 1     | top-p                | 0.5       | 1.0       |
    | 2     | repetition penalty   | 1.0       | 2.0       |

    Actions outside ``[-1, 1]`` are clipped.

    ## Observation Space
    ``Box(-1, 1, (d,), float32)``: the L2-normalised embedding of the prompt text (user content).
    ``observation="minilm"`` (default): all-MiniLM-L6-v2 sentence embedding, ``d = 384`` (via
    :meth:`aigc_rl.rewards.quality.Relevance.embed`). ``observation="lm-mean"``: the mean of the frozen LM's
    last hidden state over the formatted prompt, ``d = hidden_size`` (576 for SmolLM2).

    ## Rewards
    Mean over the group of the reward model's value per completion; the group shares one prompt, so group
    rewards (distinct-n: n-grams not shared with siblings) measure diversity within the group. Default spec
    ``"relevance+distinct-2"``: relevance in [-1, 1] (quality), distinct-2 in [0, 1] (creativity).

    ## Episode End
    Always terminated after one step (``terminated=True``, ``truncated=False``).

    ## Info
    ``reset``: ``prompt``, ``prompt_index``. ``step``: ``settings`` (the physical values), ``texts`` (tuple of
    ``n_samples`` completions), ``reward_components`` (group mean of every component), ``rewards`` (per
    completion), ``prompt``.

    ## Arguments
        model: The frozen LM: a ``transformers`` causal LM or a name for :func:`aigc_rl.models.load_causal_lm`
            (default: the embedded ``smollm2-135m-instruct``).
        tokenizer: Its tokenizer (required with a model object).
        reward: Spec string for :func:`aigc_rl.rewards.composite.make_composite`, a ``RewardModel`` or a callable.
        prompts, task, split: Prompt source (see ``TokenGeneration-v0``); default the ``content`` train split.
        n_samples: Completions per episode (group size, default 4).
        max_new_tokens: Completion length limit (default 24).
        max_prompt_tokens: Prompt length limit (default 96; case C4, huggingface/trl#3644 truncation).
        observation: ``"minilm"`` or ``"lm-mean"``.
        embedding_model: sentence-transformers model for ``"minilm"`` (default the shipped MiniLM).
        ranges: ``{setting: (low, high)}`` overriding :data:`DEFAULT_RANGES`.
        device: torch device for a model loaded by name.

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(
        self,
        model: Any = None,
        tokenizer: Any = None,
        reward: Any = "relevance+distinct-2",
        prompts: Sequence[str | dict[str, Any]] | str | None = None,
        task: str = "content",
        split: str | None = "train",
        n_samples: int = 4,
        max_new_tokens: int = 24,
        max_prompt_tokens: int = 96,
        observation: str = "minilm",
        embedding_model: str | None = None,
        ranges: dict[str, tuple[float, float]] | None = None,
        device: str | None = None,
        render_mode: str | None = None,
    ) -> None:
        if int(n_samples) < 1 or int(max_new_tokens) < 1:
            raise ValueError(
                f"n_samples and max_new_tokens must be >= 1, got {n_samples} and {max_new_tokens}"
            )
        if observation not in ("minilm", "lm-mean"):
            raise ValueError(f"observation must be 'minilm' or 'lm-mean', got {observation!r}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.render_mode = render_mode
        self.model, self.tokenizer = resolve_lm(model, tokenizer, device)
        self.model.eval()
        self.model.requires_grad_(False)
        self.reward_model = resolve_reward(reward)
        self.prompts = load_prompt_texts(prompts, task, split)
        self.encoder = PromptEncoder(self.tokenizer, max_prompt_tokens)
        self.n_samples, self.max_new_tokens = int(n_samples), int(max_new_tokens)
        self.stop_ids = _stop_ids(self.model, self.tokenizer)
        self.ranges = dict(DEFAULT_RANGES)
        for k, v in (ranges or {}).items():
            if k not in DEFAULT_RANGES or len(v) != 2 or not v[0] <= v[1]:
                raise ValueError(
                    f"ranges[{k!r}]={v!r}: keys are {list(DEFAULT_RANGES)}, values (low, high) with low <= high"
                )
            self.ranges[k] = (float(v[0]), float(v[1]))
        if (
            self.ranges["temperature"][0] <= 0
            or not 0 < self.ranges["top_p"][0] <= self.ranges["top_p"][1] <= 1
        ):
            raise ValueError("temperature must stay > 0 and top_p in (0, 1]; fix the ranges")
        self.observation_kind = observation
        self._embedder: Any = None
        self._embedding_model = embedding_model
        if observation == "minilm":
            from aigc_rl.rewards.quality import Relevance

            shared = [r for r, _ in getattr(self.reward_model, "components", [])] + [self.reward_model]
            reuse = [r for r in shared if isinstance(r, Relevance) and r.model_name == embedding_model]
            self._embedder = reuse[0] if reuse else Relevance(model=embedding_model)  # one MiniLM, not two
            st = self._embedder.model
            dim_fn = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
            dim = int(dim_fn())
        else:
            dim = int(self.model.config.get_text_config().hidden_size)
        self._emb_cache: dict[int, np.ndarray] = {}
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(dim,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(len(_SETTINGS),), dtype=np.float32)
        self._index: int | None = None
        self._last_text = ""

    def settings(self, action: Any) -> dict[str, float]:
        """Physical decoding settings of a normalised action (clipped to ``[-1, 1]``)."""
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(-1), -1.0, 1.0)
        if a.shape != (len(_SETTINGS),) or not np.isfinite(a).all():
            raise ValueError(f"action must be {len(_SETTINGS)} finite numbers in [-1, 1], got {action!r}")
        return {
            k: float(lo + (x + 1.0) / 2.0 * (hi - lo))
            for k, x, (lo, hi) in zip(_SETTINGS, a, self.ranges.values(), strict=True)
        }

    def action_for(self, temperature: float, top_p: float, repetition_penalty: float) -> np.ndarray:
        """The normalised action of physical settings (inverse of :meth:`settings`)."""
        vals = {"temperature": temperature, "top_p": top_p, "repetition_penalty": repetition_penalty}
        out = [
            2.0 * (vals[k] - lo) / (hi - lo) - 1.0 if hi > lo else 0.0 for k, (lo, hi) in self.ranges.items()
        ]
        return np.clip(np.asarray(out, dtype=np.float32), -1, 1)

    def embed(self, index: int) -> np.ndarray:
        """Observation of prompt ``index`` (cached)."""
        if index not in self._emb_cache:
            if self._embedder is not None:
                e = self._embedder.embed([self.prompts[index]])[0]
            else:
                ids = torch.tensor([self.encoder(self.prompts[index])])
                with torch.no_grad():
                    out = self.model(input_ids=ids.to(self.model.device), output_hidden_states=True)
                h = out.hidden_states[-1][0].float().mean(0)
                e = (h / h.norm().clamp_min(1e-12)).cpu().numpy()
            self._emb_cache[index] = np.clip(np.asarray(e, dtype=np.float32), -1.0, 1.0)
        return self._emb_cache[index].copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Draw a prompt. ``options={"prompt_index": i}`` picks prompt ``i``."""
        super().reset(seed=seed)
        if options and "prompt_index" in options:
            idx = int(options["prompt_index"])
            if not 0 <= idx < len(self.prompts):
                raise ValueError(
                    f"options['prompt_index']={idx} is outside the prompt set (0..{len(self.prompts) - 1})"
                )
        else:
            idx = int(self.np_random.integers(len(self.prompts)))
        self._index = idx
        return self.embed(idx), {"prompt": self.prompts[idx], "prompt_index": idx}

    def step(self, action: Any):
        if self._index is None:
            raise RuntimeError("the episode has ended: call reset() before step()")
        s = self.settings(action)
        idx, self._index = self._index, None
        prompt = self.prompts[idx]
        gen = torch_generator(self.np_random)
        completions = sample_group(
            self.model,
            self.encoder(prompt),
            self.n_samples,
            self.max_new_tokens,
            s["temperature"],
            s["top_p"],
            s["repetition_penalty"],
            gen,
            self.stop_ids,
            int(self.tokenizer.pad_token_id),
        )
        texts = [
            self.tokenizer.decode(c[:-1] if c and c[-1] in self.stop_ids else c, skip_special_tokens=True)
            for c in completions
        ]
        rewards, comps = self._score(texts, prompt)
        reward = float(np.mean(rewards))
        self._last_text = texts[0] if texts else ""
        info = {
            "prompt": prompt,
            "settings": s,
            "texts": tuple(texts),
            "rewards": tuple(rewards),
            "reward_components": comps,
        }
        return self.embed(idx), reward, True, False, info

    def _score(self, texts: list[str], prompt: str) -> tuple[list[float], dict[str, float]]:
        from aigc_rl.rewards.composite import CompositeReward

        prompts = [prompt] * len(texts)
        if isinstance(self.reward_model, CompositeReward):
            total, comps = self.reward_model.compute(texts, prompts)
        else:
            total = self.reward_model(texts, prompts)
            comps = {self.reward_model.name: total}
        means = {
            k: float(np.mean([x for x in v if x is not None]))
            for k, v in comps.items()
            if any(x is not None for x in v)
        }
        return [0.0 if t is None else float(t) for t in total], means

    def render(self) -> str | None:
        return self._last_text if self.render_mode == "ansi" else None
