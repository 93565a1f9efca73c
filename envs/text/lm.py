"""The policy LM of a text env: resolution from a name or loaded objects, action count, stop tokens, seeding.

* :func:`resolve_lm` — a causal LM and its tokenizer from a name or loaded objects.
* :func:`vocab_size` — number of actions of a token-level env (the LM head's output size).
* :func:`stop_token_ids` — token ids that end an episode.
* :func:`torch_generator` — a torch generator seeded from an env's numpy generator.
* :func:`frozen_copy` — a frozen deep copy of a model (the reference model of a KL penalty).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aigc_rl.types import CausalLM

__all__ = ["resolve_lm", "vocab_size", "stop_token_ids", "torch_generator", "frozen_copy"]


def resolve_lm(model: Any = None, tokenizer: Any = None, device: str | None = None) -> tuple[CausalLM, Any]:
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


def frozen_copy(model: Any) -> Any:
    """A deep copy of ``model`` in eval mode with gradients off (the reference model of a KL penalty)."""
    ref = copy.deepcopy(model)
    ref.eval()
    ref.requires_grad_(False)
    return ref
