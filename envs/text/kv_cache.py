"""KV-cached next-token logits for a batch of independent sequences (:class:`CachedLM`).

Rows are left-padded and replaceable one at a time (per-episode autoreset of a vector env), with one
``transformers`` KV cache shared by all rows.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
from torch.nn.utils.rnn import pad_sequence

from aigc_rl.types import CausalLM

__all__ = ["CachedLM"]


def _forward_arg_names(model: CausalLM) -> tuple[str, bool]:
    """Name of the cache keyword of ``model.forward`` (``cache`` in transformers >= 5.24, else
    ``past_key_values``) and whether it accepts ``logits_to_keep``."""
    params = inspect.signature(model.forward).parameters
    return ("cache" if "cache" in params else "past_key_values"), "logits_to_keep" in params


class CachedLM:
    """Next-token logits for ``n`` independent token sequences, advanced together with one KV cache.

    Rows are left-padded to a common length; the attention mask (never the token id, case C1, huggingface/transformers#34658) marks padding and
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

    def __init__(self, model: CausalLM, n: int, pad_token_id: int = 0) -> None:
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
        seqs = [torch.tensor(p, dtype=torch.long) for p in prefixes]
        ids = pad_sequence(seqs, batch_first=True, padding_value=self.pad_token_id, padding_side="left")
        mask = pad_sequence([torch.ones_like(s) for s in seqs], batch_first=True, padding_side="left")
        ids, mask = ids.to(self.device), mask.to(self.device)
        width = ids.shape[1]
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
