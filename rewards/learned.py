"""Quality rewards from learned models: a sequence-classification reward model and an LM-as-judge.

Both re-tokenise the completion text with their own tokenizer (handed case C3, huggingface/trl#1674: policy and reward model may use
different tokenizers; the policy's ``completion_ids`` that TRL passes are ignored), run batched and without
gradients, and load their model lazily, once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from .base import RewardModel

__all__ = ["SequenceClassifierReward", "Judge", "DEFAULT_JUDGE_TEMPLATE"]


def _device(device: str | None) -> str:
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


class SequenceClassifierReward(RewardModel):
    """A learned reward model: any Hugging Face ``AutoModelForSequenceClassification``, with its own tokenizer.

    The value is the model's logit when it has one label (the usual scalar reward model, e.g. trained with
    TRL's ``RewardTrainer``; range (-inf, inf)), else the softmax probability of ``label`` (range [0, 1]).
    The text shown to the model (``input``):

    * ``"completion"``: the completion alone;
    * ``"pair"``: ``(prompt, completion)`` as a text pair (cross-encoder style);
    * ``"chat"``: ``[user: prompt, assistant: completion]`` through the reward tokenizer's chat template;
    * ``"auto"`` (default): ``"chat"`` when prompts are given and the tokenizer has a chat template, else
      ``"completion"``.

    Text is tokenised by the reward model's tokenizer (case C3, huggingface/trl#1674), right-padded, truncated to ``max_length``.
    Maximise.

    Args:
        model: Hub id or local directory of a sequence-classification model, or a loaded model.
        tokenizer: Its tokenizer (loaded from ``model`` when ``None``).
        label: Class index or label name whose probability is the reward (multi-label models); default the
            last class (e.g. ``POSITIVE`` of an SST-2 classifier).
        input: See above.
        device: torch device; ``None`` = CUDA when available, else CPU.
        batch_size: Sequences per forward pass.
        max_length: Tokens per sequence at most.

    Raises:
        ValueError: no model given, unknown label or input mode.

    Source: Ouyang et al. 2022 (InstructGPT reward model); transformers ``AutoModelForSequenceClassification``.
    """

    name: ClassVar[str] = "reward-model"
    kind: ClassVar[str] = "quality"
    range_note: ClassVar[str] = "logit; [0, 1] for a class probability (`label=`)"
    source: ClassVar[str] = (
        "Ouyang et al. 2022 (learned reward model); transformers AutoModelForSequenceClassification"
    )

    def __init__(
        self,
        model: Any = None,
        tokenizer: Any = None,
        label: int | str | None = None,
        input: str = "auto",
        device: str | None = None,
        batch_size: int = 16,
        max_length: int = 512,
    ) -> None:
        if model is None:
            raise ValueError(
                "reward 'reward-model' needs model=<hub id or local directory of an AutoModelForSequenceClassification>, "
                "e.g. make('reward-model', model='OpenAssistant/reward-model-deberta-v3-large-v2')"
            )
        if input not in ("auto", "completion", "pair", "chat"):
            raise ValueError(
                f"reward-model input must be 'auto', 'completion', 'pair' or 'chat', got {input!r}"
            )
        self.model_spec = model
        self._model: Any = None if isinstance(model, str) else model
        self._tokenizer = tokenizer
        self.label = label
        self.input = input
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self._label_index: int | None = None
        self._uses_token_types = False
        self._loaded = False

    def _load(self) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if self._model is None:
            from aigc_rl.models import resolve_model

            path = resolve_model(
                str(self.model_spec)
            )  # fails fast offline with a message saying what to pass
            try:
                self._model = AutoModelForSequenceClassification.from_pretrained(path)
            except OSError as e:
                raise FileNotFoundError(
                    f"reward model {path!r} could not be loaded: {e}\nPass a local directory (offline, the hub is "
                    "not reachable) or a loaded model."
                ) from e
            self._model.to(_device(self.device))
        if self._tokenizer is None:
            self._tokenizer = AutoTokenizer.from_pretrained(self._model.config._name_or_path)
        tok, cfg = self._tokenizer, self._model.config
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token or tok.unk_token
        if getattr(cfg, "pad_token_id", None) is None:
            cfg.pad_token_id = tok.pad_token_id
        self._model.eval()
        self._model.requires_grad_(False)
        import inspect

        self._uses_token_types = "token_type_ids" in inspect.signature(self._model.forward).parameters
        n = int(cfg.num_labels)
        if n > 1:
            if self.label is None:
                self._label_index = n - 1
            elif isinstance(self.label, str):
                if self.label not in cfg.label2id:
                    raise ValueError(
                        f"reward-model label {self.label!r} is not one of {sorted(cfg.label2id)}"
                    )
                self._label_index = int(cfg.label2id[self.label])
            else:
                if not 0 <= int(self.label) < n:
                    raise ValueError(f"reward-model label index {self.label} is out of range for {n} labels")
                self._label_index = int(self.label)

    def _texts(
        self, completions: list[str], prompts: list[str] | None
    ) -> tuple[list[str], list[str] | None, bool]:
        """``(first texts, second texts of a pair or None, whether a chat template was applied)``."""
        mode = self.input
        tok = self._tokenizer
        if mode == "auto":
            mode = "chat" if prompts is not None and getattr(tok, "chat_template", None) else "completion"
        if mode in ("pair", "chat") and prompts is None:
            raise ValueError(f"reward 'reward-model' with input={mode!r} needs the prompts")
        if mode == "completion":
            return list(completions), None, False
        if mode == "pair":
            return list(prompts), list(completions), False  # type: ignore[arg-type]
        texts = [
            tok.apply_chat_template(
                [{"role": "user", "content": p}, {"role": "assistant", "content": c}], tokenize=False
            )
            for p, c in zip(prompts, completions, strict=False)  # type: ignore[arg-type]
        ]
        return texts, None, True

    @torch.no_grad()
    def score(self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any) -> list[float]:
        if not self._loaded:
            self._load()
            self._loaded = True
        first, second, chat = self._texts(completions, prompts)
        device = next(self._model.parameters()).device
        out: list[float] = []
        for b in range(0, len(first), self.batch_size):
            enc = self._tokenizer(
                first[b : b + self.batch_size],
                second[b : b + self.batch_size] if second is not None else None,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
                padding_side="right",
                add_special_tokens=not chat,  # a chat template already carries its special tokens
                return_token_type_ids=self._uses_token_types,
            ).to(device)
            logits = self._model(**enc).logits.float()
            if logits.shape[-1] == 1:
                vals = logits[:, 0]
            else:
                vals = torch.softmax(logits, dim=-1)[:, self._label_index]
            out.extend(float(v) for v in vals)
        return out


#: Rating prompt of the LM judge; ``{prompt}`` and ``{completion}`` are filled in, and the judge's next-token
#: distribution after it is read over the rating tokens.
DEFAULT_JUDGE_TEMPLATE = (
    "You are a strict judge of writing quality. Rate the response to the request below on a scale of 1 to 5 "
    "(1 = useless or harmful, 3 = acceptable, 5 = excellent: helpful, correct, clear and original). Answer with a "
    "single digit.\n\nRequest: {prompt}\n\nResponse: {completion}"
)


class Judge(RewardModel):
    """LM-as-judge: the judge LM's probability of a high rating for the completion.

    The judge (a causal LM) reads a rating prompt (``template`` with the request and the response; through its
    chat template as a user turn when it has one), followed by ``answer_prefix`` (the start of its answer,
    which makes even a small judge put most of its next-token mass on rating tokens), and the distribution of
    its next token is read over the rating tokens ``ratings`` (each label's probability sums the tokens ``"4"`` and ``" 4"``). The value is the
    probability mass of the ``high`` ratings renormalised over all rating tokens:
    ``sum_{r in high} p(r) / sum_{r in ratings} p(r)``. Range [0, 1], maximise. One batched, left-padded
    forward pass per ``batch_size`` completions; text is re-tokenised with the judge's tokenizer (case C3, huggingface/trl#1674).

    Args:
        model: A loaded causal LM, or a name for :func:`aigc_rl.models.load_causal_lm` (hub id, local
            directory, default the embedded ``"smollm2-135m-instruct"``).
        tokenizer: The judge's tokenizer when ``model`` is a loaded model.
        template: Rating prompt with ``{prompt}`` and ``{completion}`` fields.
        ratings: Rating labels, each one token of the judge's vocabulary (alone or after a space).
        high: The labels counted as high ratings (a subset of ``ratings``).
        answer_prefix: Text appended after the prompt (after the chat template's assistant header).
        device: torch device; ``None`` = CUDA when available, else CPU.
        batch_size: Judge prompts per forward pass.
        max_completion_tokens: Completion tokens shown to the judge at most (the rest is cut).

    Raises:
        ValueError: ``high`` not a non-empty subset of ``ratings``, a template without the fields, or a rating
            label that is not a single token for the judge's tokenizer.

    The default judge, the embedded SmolLM2-135M-Instruct, works offline but is weak: with the default prompt it
    puts ~97% of its next-token mass on rating tokens yet scores a correct and a nonsensical answer almost
    alike (measured: 0.33 vs 0.32). Pass a stronger instruction-tuned model (``model=<hub id or directory>``)
    for a judge that discriminates.

    Source: Zheng et al. 2023, "Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena"; Liu et al. 2023
    (G-Eval: probability-weighted rating tokens).
    """

    name: ClassVar[str] = "judge"
    kind: ClassVar[str] = "quality"
    value_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    source: ClassVar[str] = (
        "Zheng et al. 2023 (LLM-as-a-judge); Liu et al. 2023 (G-Eval rating-token probabilities)"
    )

    def __init__(
        self,
        model: Any = None,
        tokenizer: Any = None,
        template: str = DEFAULT_JUDGE_TEMPLATE,
        ratings: Sequence[str] = ("1", "2", "3", "4", "5"),
        high: Sequence[str] = ("4", "5"),
        answer_prefix: str = "Rating: ",
        device: str | None = None,
        batch_size: int = 8,
        max_completion_tokens: int = 256,
    ) -> None:
        if "{completion}" not in template:
            raise ValueError("judge template must contain the field {completion} (and usually {prompt})")
        if not high or not set(high) <= set(ratings):
            raise ValueError(
                f"judge high ratings {list(high)} must be a non-empty subset of ratings {list(ratings)}"
            )
        self.model_spec = model if model is not None else "smollm2-135m-instruct"
        self._model: Any = None if isinstance(self.model_spec, str) else self.model_spec
        self._tokenizer = tokenizer
        self.template = template
        self.ratings = list(ratings)
        self.high = list(high)
        self.answer_prefix = answer_prefix
        self.device = device
        self.batch_size = batch_size
        self.max_completion_tokens = max_completion_tokens
        self._rating_ids: list[list[int]] | None = None

    def _load(self) -> list[list[int]]:
        """Load the judge and its tokenizer if not given; returns (and keeps) the token ids of each rating."""
        if self._model is None:
            from aigc_rl.models import load_causal_lm

            self._model, tok = load_causal_lm(self.model_spec, device=_device(self.device))
            self._tokenizer = self._tokenizer or tok
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self._model.config._name_or_path)
        tok = self._tokenizer
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token or tok.unk_token
        self._model.eval()
        self._model.requires_grad_(False)
        ids: list[list[int]] = []
        for r in self.ratings:
            variants = set()
            for text in (r, " " + r):
                enc = tok(text, add_special_tokens=False)["input_ids"]
                if len(enc) == 1 and enc[0] != tok.unk_token_id:
                    variants.add(enc[0])
            if not variants:
                raise ValueError(
                    f"judge rating {r!r} is not a single token of the judge's tokenizer; choose other ratings"
                )
            ids.append(sorted(variants))
        self._rating_ids = ids
        import inspect

        self._keep_last = "logits_to_keep" in inspect.signature(self._model.forward).parameters
        return ids

    def _prompt_text(self, prompt: str, completion: str) -> str:
        tok = self._tokenizer
        ids = tok(completion, add_special_tokens=False)["input_ids"]
        if len(ids) > self.max_completion_tokens:
            completion = tok.decode(ids[: self.max_completion_tokens])
        text = self.template.format(prompt=prompt, completion=completion)
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
            )
            return text + self.answer_prefix
        return text + "\n\n" + self.answer_prefix

    @torch.no_grad()
    def score(self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any) -> list[float]:
        rating_ids = self._rating_ids if self._rating_ids is not None else self._load()
        tok, model = self._tokenizer, self._model
        device = next(model.parameters()).device
        prompts = prompts if prompts is not None else [""] * len(completions)
        texts = [self._prompt_text(p, c) for p, c in zip(prompts, completions, strict=False)]
        chat = bool(getattr(tok, "chat_template", None))
        high = [i for i, r in enumerate(self.ratings) if r in self.high]
        out: list[float] = []
        for b in range(0, len(texts), self.batch_size):
            enc = tok(
                texts[b : b + self.batch_size],
                padding=True,
                return_tensors="pt",
                padding_side="left",
                add_special_tokens=not chat,
            ).to(device)
            mask = enc["attention_mask"]
            positions = (mask.cumsum(-1) - 1).clamp_min(0)  # left padding: real tokens start at position 0
            extra = {"logits_to_keep": 1} if self._keep_last else {}  # LM head on the last position only
            out_logits = model(
                input_ids=enc["input_ids"], attention_mask=mask, position_ids=positions, **extra
            ).logits
            logits = out_logits[:, -1].float()
            probs = torch.softmax(logits, dim=-1)
            mass = torch.stack([probs[:, ids].sum(-1) for ids in rating_ids], dim=-1)  # (batch, n_ratings)
            total = mass.sum(-1).clamp_min(torch.finfo(torch.float32).tiny)
            out.extend(float(v) for v in mass[:, high].sum(-1) / total)
        return [min(1.0, max(0.0, v)) if math.isfinite(v) else 0.0 for v in out]
