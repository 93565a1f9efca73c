"""Machinery shared by the text environments and the rollout helper.

* :func:`resolve_lm` — a causal LM and its tokenizer from a name or loaded objects.
* :func:`resolve_reward` — a reward model from a spec string, a :class:`RewardModel` or a callable.
* :func:`load_prompt_texts` — prompt strings from a task prompt set, a JSONL file or a list.
* :class:`PromptEncoder` — chat-template formatting with left truncation of the *user content* (case C4).
* :class:`CachedLM` — batched next-token logits for N independent left-padded sequences with one
  ``transformers`` KV cache, rows replaceable one at a time (per-episode autoreset).
* :func:`kl_penalty_terms` — per-token KL estimators k1 and k3 (Schulman 2020, "Approximating KL Divergence").
* :func:`tiny_lm` — a tiny randomly initialised Llama with a byte-level BPE tokenizer and a ChatML template,
  for tests and smoke runs (no network, under a second).
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "resolve_lm",
    "resolve_reward",
    "load_prompt_texts",
    "PromptEncoder",
    "CachedLM",
    "kl_penalty_terms",
    "KL_ESTIMATORS",
    "stop_token_ids",
    "tiny_lm",
    "torch_generator",
]

KL_ESTIMATORS = ("k1", "k3")


# --------------------------------------------------------------------------------------------------- models


def resolve_lm(model: Any = None, tokenizer: Any = None, device: str | None = None) -> tuple[Any, Any]:
    """Return ``(model, tokenizer)`` for a text environment.

    Args:
        model: A loaded ``transformers`` causal LM (``PreTrainedModel``), or a name for
            :func:`aigc_rl.models.load_causal_lm` (hub id, local directory, ``"smollm2-135m-instruct"``);
            ``None`` means the embedded default.
        tokenizer: The tokenizer; required when ``model`` is a loaded model (loaded from the same name
            otherwise).
        device: torch device for a model loaded by name.

    Returns:
        The model (unchanged when given as an object) and the tokenizer (pad token set to EOS when it has none).

    Raises:
        ValueError: a loaded model without a tokenizer.
        aigc_rl.models.ModelNotFoundError: a name that cannot be resolved offline.
    """
    if model is None or isinstance(model, (str, Path)):
        from aigc_rl.models import DEFAULT_MODEL, load_causal_lm

        lm, tok = load_causal_lm(model if model is not None else DEFAULT_MODEL, device=device)
        tokenizer = tokenizer if tokenizer is not None else tok
    else:
        if not hasattr(model, "config") or not callable(model):
            raise ValueError(
                f"model must be a transformers causal LM or a model name, got {type(model).__name__}; pass e.g. "
                "model='smollm2-135m-instruct' or model=AutoModelForCausalLM.from_pretrained(...)"
            )
        if tokenizer is None:
            raise ValueError(
                "a loaded model needs its tokenizer: pass tokenizer=AutoTokenizer.from_pretrained(...) as well"
            )
        lm = model
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return lm, tokenizer


def vocab_size(model: Any, tokenizer: Any) -> int:
    """Number of actions of a token-level env: the LM head's output size (>= ``len(tokenizer)``)."""
    size = getattr(getattr(model, "config", None), "vocab_size", None)
    if hasattr(model, "get_output_embeddings") and model.get_output_embeddings() is not None:
        size = model.get_output_embeddings().weight.shape[0]
    return int(size if size is not None else len(tokenizer))


def stop_token_ids(model: Any, tokenizer: Any, stop: Sequence[int] | int | None = None) -> tuple[int, ...]:
    """Token ids that end an episode: ``stop`` if given, else the tokenizer's EOS plus the model's
    ``generation_config.eos_token_id`` (which may be a list)."""
    if stop is not None:
        return tuple(int(s) for s in ([stop] if isinstance(stop, int) else stop))
    ids: list[int] = []
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    gen = getattr(model, "generation_config", None)
    eos = getattr(gen, "eos_token_id", None)
    for e in [eos] if isinstance(eos, int) else (eos or []):
        if int(e) not in ids:
            ids.append(int(e))
    return tuple(ids)


def torch_generator(np_random: np.random.Generator, device: Any = "cpu") -> torch.Generator:
    """A torch generator seeded from a numpy generator (so torch sampling follows the env's seed)."""
    g = torch.Generator(device=device)
    g.manual_seed(int(np_random.integers(0, 2**63 - 1)))
    return g


# --------------------------------------------------------------------------------------------------- rewards


def resolve_reward(reward: Any) -> Any:
    """Return a :class:`~aigc_rl.rewards.base.RewardModel` for an env.

    Args:
        reward: A spec string for :func:`aigc_rl.rewards.composite.make_composite` (``"relevance+distinct-2"``),
            a ``{name: weight}`` mapping, a ``RewardModel`` object, or a plain callable
            ``f(completions, prompts=..., **kw) -> list[float | None]``.

    Raises:
        ValueError / UnknownRewardError: a bad spec (from ``make_composite``).
        TypeError: anything else.
    """
    from aigc_rl.rewards.base import FunctionReward, RewardModel
    from aigc_rl.rewards.composite import make_composite

    if isinstance(reward, RewardModel):
        return reward
    if isinstance(reward, (str, dict)):
        return make_composite(reward)
    if callable(reward):
        return FunctionReward(reward)
    raise TypeError(
        f"reward must be a spec string like 'relevance+distinct-2', a RewardModel or a callable, got "
        f"{type(reward).__name__}"
    )


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


# --------------------------------------------------------------------------------------------------- prompts


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def load_prompt_texts(
    prompts: Sequence[str | dict[str, Any]] | str | Path | None = None,
    task: str = "content",
    split: str | None = "train",
) -> list[str]:
    """Prompt strings for an env.

    Args:
        prompts: A list of strings or ``{"prompt": ...}`` dicts, or a path to a JSONL file / a task name; ``None``
            uses ``task``.
        task: A shipped prompt set (``"content"``, ``"support"``, ``"education"``) or a JSONL path, read with
            :func:`aigc_rl.prompts.load_prompts` when available.
        split: ``"train"`` or ``"eval"`` (rows without a ``split`` field are kept); ``None`` keeps all rows.

    Raises:
        ValueError: no prompt found, or an entry that is neither a string nor a dict with ``"prompt"``.
    """
    if prompts is None or isinstance(prompts, (str, Path)):
        source = prompts if prompts is not None else task
        try:
            from aigc_rl.prompts import load_prompts  # type: ignore[import-not-found]

            rows: Sequence[Any] = load_prompts(source, split if split is not None else "all")
        except ImportError:
            path = Path(str(source))
            if not path.exists():
                path = (
                    Path(__file__).resolve().parents[2] / "aigc_rl" / "data" / "prompts" / f"{source}.jsonl"
                )
                if not path.exists():
                    import aigc_rl

                    path = Path(aigc_rl.__file__).parent / "data" / "prompts" / f"{source}.jsonl"
            if not path.exists():
                raise ValueError(
                    f"prompt set {source!r} not found: pass task='content'|'support'|'education', a JSONL path, or "
                    "prompts=[...]"
                ) from None
            rows = [r for r in _read_jsonl(path) if split is None or r.get("split", split) == split]
    else:
        rows = list(prompts)
    out: list[str] = []
    for i, r in enumerate(rows):
        if isinstance(r, str):
            out.append(r)
        elif isinstance(r, dict) and isinstance(r.get("prompt"), str):
            out.append(r["prompt"])
        else:
            raise ValueError(f"prompt {i} must be a string or a dict with a 'prompt' string, got {r!r:.80}")
    if not out:
        raise ValueError(
            f"no prompts (task={task!r}, split={split!r}); pass prompts=[...] with at least one prompt"
        )
    return out


class PromptEncoder:
    """Token ids of a prompt, chat-formatted, at most ``max_tokens`` long (handed case C4).

    With a chat template (``use_chat_template=None`` means "when the tokenizer has one") the prompt becomes the
    user turn of a one-turn conversation plus the generation prompt. When the result is longer than
    ``max_tokens``, tokens are removed from the **left of the user content** only; the template's own tokens
    (system turn, ``<|im_start|>user``, ``<|im_end|>``, the assistant header) stay intact. Truncation works on
    token ids with the tokenizer's character offsets; the prompt is never decoded and re-encoded.

    Args:
        tokenizer: A ``transformers`` tokenizer (fast tokenizers use offsets; slow ones tokenise the template
            parts separately).
        max_tokens: Maximum prompt length in tokens, > template overhead.
        use_chat_template: ``True``/``False``/``None`` (auto).
        system_prompt: Optional system message placed before the user turn.

    Raises:
        ValueError: ``use_chat_template=True`` but the tokenizer has no template; the template alone is longer
            than ``max_tokens`` (the message gives the overhead).
    """

    _SENTINEL = "\u2063AIGCRLPROMPT\u2063"

    def __init__(
        self,
        tokenizer: Any,
        max_tokens: int,
        use_chat_template: bool | None = None,
        system_prompt: str | None = None,
    ) -> None:
        has_template = getattr(tokenizer, "chat_template", None) is not None
        if use_chat_template and not has_template:
            raise ValueError(
                "use_chat_template=True but the tokenizer has no chat template; pass use_chat_template=False"
            )
        self.tokenizer = tokenizer
        self.max_tokens = int(max_tokens)
        self.templated = has_template if use_chat_template is None else bool(use_chat_template)
        self.system_prompt = system_prompt
        if self.templated:
            msgs = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
                {"role": "user", "content": self._SENTINEL}
            ]
            rendered = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            if rendered.count(self._SENTINEL) != 1:
                raise ValueError(
                    "the chat template does not place the user content verbatim; pass use_chat_template=False"
                )
            self.prefix, _, self.suffix = rendered.partition(self._SENTINEL)
        else:
            self.prefix = self.suffix = ""
        overhead = len(self._encode_parts("")[0])
        if overhead >= self.max_tokens:
            raise ValueError(
                f"max_prompt_tokens={self.max_tokens} leaves no room for the prompt: the chat template alone takes "
                f"{overhead} tokens; raise max_prompt_tokens"
            )
        self.overhead = overhead

    def _encode_parts(self, content: str) -> tuple[list[int], list[bool]]:
        """Token ids of ``prefix + content + suffix`` and, per token, whether it belongs to the content."""
        tok = self.tokenizer
        add_special = not self.templated  # a rendered template already holds its special tokens
        text = self.prefix + content + self.suffix
        lo, hi = len(self.prefix), len(self.prefix) + len(content)
        if getattr(tok, "is_fast", False):
            enc = tok(text, add_special_tokens=add_special, return_offsets_mapping=True)
            ids = list(enc["input_ids"])
            is_content = [s >= lo and e <= hi and e > s for s, e in enc["offset_mapping"]]
            return ids, is_content
        parts = [
            tok(self.prefix, add_special_tokens=False)["input_ids"] if self.prefix else [],
            tok(content, add_special_tokens=False)["input_ids"] if content else [],
            tok(self.suffix, add_special_tokens=False)["input_ids"] if self.suffix else [],
        ]
        if add_special and tok.bos_token_id is not None and getattr(tok, "add_bos_token", True):
            parts[0] = [tok.bos_token_id] + parts[0]
        ids = parts[0] + parts[1] + parts[2]
        return ids, [False] * len(parts[0]) + [True] * len(parts[1]) + [False] * len(parts[2])

    def __call__(self, prompt: str) -> list[int]:
        """Token ids (length <= ``max_tokens``) of ``prompt``; see the class docstring."""
        return self.encode(prompt)[0]

    def encode(self, prompt: str) -> tuple[list[int], str]:
        """Token ids (length <= ``max_tokens``) and the user content they keep (a suffix of ``prompt``).

        The kept content is what a reward model should see as the prompt, and what a trainer that applies the
        chat template itself (TRL) should be given, so that it never has to truncate a templated prompt.
        """
        ids, is_content = self._encode_parts(prompt)
        excess = len(ids) - self.max_tokens
        if excess <= 0:
            return ids, prompt
        drop: set[int] = set()
        for i, c in enumerate(is_content):  # the first `excess` content tokens, left to right
            if len(drop) == excess:
                break
            if c:
                drop.add(i)
        kept_ids = [t for i, t in enumerate(ids) if i not in drop]
        kept_content = [
            t for i, (t, c) in enumerate(zip(ids, is_content, strict=True)) if c and i not in drop
        ]
        tok = self.tokenizer
        if getattr(tok, "is_fast", False):
            enc = tok(
                self.prefix + prompt + self.suffix,
                add_special_tokens=not self.templated,
                return_offsets_mapping=True,
            )
            first = next((i for i, c in enumerate(is_content) if c and i not in drop), None)
            kept = prompt[enc["offset_mapping"][first][0] - len(self.prefix) :] if first is not None else ""
        else:
            kept = tok.decode(kept_content)  # user content only: no template markers involved
        return kept_ids, kept


# --------------------------------------------------------------------------------------------------- KL


def kl_penalty_terms(logp: torch.Tensor, ref_logp: torch.Tensor, estimator: str) -> torch.Tensor:
    """Per-token KL(policy || reference) estimate from the log-probabilities of the sampled token.

    Estimators from J. Schulman, "Approximating KL Divergence" (2020), with ``log r = ref_logp - logp``:

    * ``"k1"``: ``-log r = logp - ref_logp`` (unbiased, can be negative for a single token);
    * ``"k3"``: ``(r - 1) - log r`` (unbiased, never negative; computed as ``expm1(log r) - log r`` and
      clamped at 0 against float rounding, case D1).

    Args:
        logp: log pi(a_t | s_t) under the policy, any shape, float.
        ref_logp: log pi_ref(a_t | s_t) under the reference model, same shape.
        estimator: ``"k1"`` or ``"k3"``.

    Returns:
        A float64 tensor of the same shape (nats per token).

    Raises:
        ValueError: unknown estimator.
    """
    log_r = ref_logp.double() - logp.double()
    if estimator == "k1":
        return -log_r
    if estimator == "k3":
        return (torch.expm1(log_r) - log_r).clamp_min(0.0)
    raise ValueError(f"kl_estimator must be one of {KL_ESTIMATORS}, got {estimator!r}")


# --------------------------------------------------------------------------------------------------- KV cache


def _forward_arg_names(model: Any) -> tuple[str, bool]:
    """Name of the cache keyword of ``model.forward`` (``cache`` in transformers >= 5.24, else
    ``past_key_values``) and whether it accepts ``logits_to_keep``."""
    params = inspect.signature(model.forward).parameters
    return ("cache" if "cache" in params else "past_key_values"), "logits_to_keep" in params


class CachedLM:
    """Next-token logits for ``n`` independent token sequences, advanced together with one KV cache.

    Rows are left-padded to a common length; the attention mask (never the token id, case C1) marks padding and
    position ids are ``cumsum(mask) - 1`` as in ``transformers`` ``generate``. Each row holds a *cached* part
    (keys/values in a ``transformers.DynamicCache``) and exactly one *pending* token that the next
    :meth:`forward` feeds, so all rows advance with one ``(n, 1)`` forward pass.

    :meth:`set_rows` replaces the sequences of some rows (a new episode): their prefixes are run through the
    model together in one prefill and spliced into the shared cache; leading columns that are padding in every
    row are dropped, so the cache never grows beyond the longest live sequence. Models whose cache is not a
    plain dynamic cache (sliding-window layers) fall back to re-running every row's prefix.

    Args:
        model: A ``transformers`` causal LM (decoder-only, supporting ``position_ids`` and a ``DynamicCache``).
        n: Number of rows (batch size).
        pad_token_id: Id written at padded positions (any id works: the mask decides).
    """

    def __init__(self, model: Any, n: int, pad_token_id: int = 0) -> None:
        self.model = model
        self.n = int(n)
        self.pad_token_id = int(pad_token_id)
        self.device = next(model.parameters()).device
        self._cache_kw, self._has_keep = _forward_arg_names(model)
        self.cache: Any = None
        self.mask = torch.zeros(self.n, 0, dtype=torch.long, device=self.device)
        self.pending = torch.full((self.n,), self.pad_token_id, dtype=torch.long, device=self.device)
        self.has_pending = torch.zeros(self.n, dtype=torch.bool)
        self.pos = torch.zeros(self.n, dtype=torch.long, device=self.device)
        self.seqs: list[list[int]] = [[] for _ in range(self.n)]

    # -- helpers
    def _call(
        self, input_ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor, cache: Any
    ) -> torch.Tensor:
        kw: dict[str, Any] = {self._cache_kw: cache, "use_cache": True}
        if self._has_keep:
            kw["logits_to_keep"] = 1
        out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=pos, **kw)
        return out.logits[:, -1]

    def _new_cache(self) -> Any:
        from transformers import DynamicCache

        return DynamicCache(config=self.model.config)

    def _plain_layers(self, cache: Any) -> bool:
        from transformers.cache_utils import DynamicLayer

        layers = getattr(cache, "layers", None)
        return layers is not None and all(type(layer) is DynamicLayer for layer in layers)

    def _prefill(self, prefixes: list[list[int]]) -> tuple[Any, torch.Tensor]:
        """Run left-padded ``prefixes`` (each may be empty) through the model; return (cache, mask)."""
        k = len(prefixes)
        width = max(len(p) for p in prefixes)
        ids = torch.full((k, width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((k, width), dtype=torch.long)
        for r, p in enumerate(prefixes):
            if p:
                ids[r, width - len(p) :] = torch.tensor(p, dtype=torch.long)
                mask[r, width - len(p) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        cache = self._new_cache()
        if width > 0:
            pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
            self._call(ids, mask, pos, cache)
        return cache, mask

    def _rebuild(self) -> None:
        prefixes = [s[:-1] if self.has_pending[r] else list(s) for r, s in enumerate(self.seqs)]
        self.cache, self.mask = self._prefill(prefixes)
        self.pos = self.mask.sum(-1)

    def _pad_left(self, cols: int) -> None:
        if cols <= 0:
            return
        for layer in self.cache.layers:
            if layer.keys is None or layer.keys.numel() == 0:
                continue
            b, h, _, d = layer.keys.shape
            layer.keys = torch.cat([layer.keys.new_zeros(b, h, cols, d), layer.keys], dim=-2)
            b, h, _, d = layer.values.shape
            layer.values = torch.cat([layer.values.new_zeros(b, h, cols, d), layer.values], dim=-2)
        self.mask = torch.cat([self.mask.new_zeros(self.n, cols), self.mask], dim=-1)

    def _trim(self) -> None:
        if self.mask.shape[1] == 0:
            return
        live = self.mask.any(dim=0).nonzero()
        start = int(live[0]) if len(live) else self.mask.shape[1]
        if start == 0:
            return
        for layer in self.cache.layers:
            if layer.keys is not None and layer.keys.numel() > 0:
                layer.keys = layer.keys[:, :, start:].contiguous()
                layer.values = layer.values[:, :, start:].contiguous()
        self.mask = self.mask[:, start:]

    # -- public API
    def set_rows(self, rows: Sequence[int], seqs: Sequence[Sequence[int]]) -> None:
        """Start new sequences in ``rows``: cache ``seq[:-1]``, keep ``seq[-1]`` pending.

        Raises:
            ValueError: an empty sequence (a prompt needs at least one token).
        """
        rows = list(rows)
        if not rows:
            return
        for r, s in zip(rows, seqs, strict=True):
            if len(s) == 0:
                raise ValueError(f"row {r}: a sequence needs at least one token (got an empty prompt)")
            self.seqs[r] = [int(t) for t in s]
            self.pending[r] = int(s[-1])
            self.has_pending[r] = True
        fresh = self.cache is None or len(set(rows)) == self.n
        if fresh or not self._plain_layers(self.cache):
            if self.cache is None and len(rows) < self.n:
                for r in range(self.n):
                    if r not in rows and not self.seqs[r]:
                        self.seqs[r] = [self.pad_token_id]
                        self.pending[r] = self.pad_token_id
                        self.has_pending[r] = True
            self._rebuild()
            return
        sub_cache, sub_mask = self._prefill([list(s[:-1]) for s in seqs])
        width = sub_mask.shape[1]
        self._pad_left(width - self.mask.shape[1])
        total = self.mask.shape[1]
        idx = torch.tensor(rows, dtype=torch.long, device=self.device)
        for layer, sub in zip(self.cache.layers, sub_cache.layers, strict=True):
            if width == 0 or sub.keys is None or sub.keys.numel() == 0:
                layer.keys[idx] = 0
                layer.values[idx] = 0
                continue
            layer.keys[idx] = 0
            layer.values[idx] = 0
            layer.keys[idx, :, total - width :] = sub.keys.to(layer.keys.dtype)
            layer.values[idx, :, total - width :] = sub.values.to(layer.values.dtype)
        self.mask[idx] = 0
        if width:
            self.mask[idx, total - width :] = sub_mask
        self.pos[idx] = sub_mask.sum(-1)
        self._trim()

    def push(self, tokens: torch.Tensor | Sequence[int], rows: Sequence[int] | None = None) -> None:
        """Append one token to each of ``rows`` (default: all rows); it becomes the pending token."""
        rows = range(self.n) if rows is None else rows
        toks = torch.as_tensor(tokens, dtype=torch.long).reshape(-1).tolist()
        for r, t in zip(rows, toks, strict=True):
            if self.has_pending[r]:
                raise RuntimeError(f"row {r} already has a pending token; call forward() first")
            self.seqs[r].append(int(t))
            self.pending[r] = int(t)
            self.has_pending[r] = True

    @torch.no_grad()
    def forward(self) -> torch.Tensor:
        """Feed every row's pending token; return the next-token logits, float32 ``(n, vocab)``.

        Raises:
            RuntimeError: a row has no pending token.
        """
        if not bool(self.has_pending.all()):
            missing = (~self.has_pending).nonzero().flatten().tolist()
            raise RuntimeError(f"rows {missing} have no pending token; push() or set_rows() them first")
        mask = torch.cat([self.mask, self.mask.new_ones(self.n, 1)], dim=-1)
        logits = self._call(self.pending[:, None], mask, self.pos[:, None], self.cache)
        self.mask = mask
        self.pos = self.pos + 1
        self.has_pending[:] = False
        return logits.float()


# --------------------------------------------------------------------------------------------------- testing


_TINY_CORPUS = (
    "the cat sat on the mat. a dog ran in the park. write a slogan for a red bike. the sun is warm today. "
    "reply to the customer politely. what is two plus two? explain why the sky is blue in one sentence. "
    "zebra zoo zone zero zigzag. hello world, this is a tiny model for tests."
)

_CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def tiny_lm(
    seed: int = 0,
    hidden_size: int = 32,
    num_layers: int = 2,
    chat_template: bool = True,
    init_std: float = 0.02,
) -> tuple[Any, Any]:
    """A tiny randomly initialised Llama causal LM and a byte-level BPE tokenizer (for tests and smoke runs).

    The tokenizer has ``<|im_start|>`` (BOS) and ``<|im_end|>`` (EOS **and** pad, as in SmolLM2, case C1), a
    ChatML chat template (unless ``chat_template=False``), left padding, and about 300 tokens; any text can be
    encoded (byte level). Built in memory in well under a second; no network. ``init_std`` is the weights'
    initialisation scale (``initializer_range``): at 0.02 the next-token distribution is nearly uniform; larger
    values give peaked, LM-like distributions that RL can move quickly.

    Returns:
        ``(model, tokenizer)``; the model is in eval mode, float32, on CPU.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|im_start|>", "<|im_end|>", "<unk>"]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([_TINY_CORPUS], trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<unk>",
        padding_side="left",
    )
    if chat_template:
        tok.chat_template = _CHATML
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
        initializer_range=init_std,
    )
    model = LlamaForCausalLM(config).eval()
    return model, tok


def frozen_copy(model: Any) -> Any:
    """A deep copy of ``model`` in eval mode with gradients off (the reference model of a KL penalty)."""
    ref = copy.deepcopy(model)
    ref.eval()
    ref.requires_grad_(False)
    return ref


def as_int(action: Any, name: str = "action") -> int:
    """An integer action from an int, numpy scalar or 0-d/1-element array; raises TypeError otherwise."""
    arr = np.asarray(action)
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be one integer token id, got {action!r:.60} (dtype {arr.dtype})")
    return int(arr.reshape(()))
