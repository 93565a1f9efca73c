"""Sampling from a LoRA policy with its adapter merged into the base weights.

A LoRA layer computes ``W x + s * B (A x)``: three products per layer and per generated token. Merged
(``W' = W + s * B A``, peft's ``merge_adapter``) it is one product, the same function up to float rounding.
On 2 CPU cores SmolLM2-135M samples in 0.87-0.91x the time at the main job's batch of 8 (two runs) and 0.885x at the
evaluation's batch of 64 (``benchmarks/bench_merged_rollout.py``, 32 new tokens). The base weights are
copied before the merge and written back after it, so the frozen base (the reference model of the KL
penalty) is the same bit for bit afterwards: peft's ``unmerge_adapter`` alone subtracts the product again,
which leaves rounding residue.

Merging is done only where it changes nothing but rounding: a float32 PEFT LoRA model whose adapters are
active and not merged already, with whole (not sharded) weights: DeepSpeed ZeRO-3 and FSDP runs sample as
peft runs them. In bfloat16 or float16 the merged product would be rounded to the weights'
8 or 11 bits of precision (a small update can vanish), so such models are sampled as they are.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["lora_merged", "merge_for_generation"]


def _lora_layers(model: Any) -> list[Any]:
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:  # peft missing: nothing can be a LoRA layer
        return []
    return [m for m in model.modules() if isinstance(m, LoraLayer)]


def _mergeable(model: Any, layers: list[Any]) -> bool:
    import torch

    if not layers or not callable(getattr(model, "merge_adapter", None)):
        return False
    for layer in layers:
        if layer.disable_adapters or layer.merged or not layer.active_adapters:
            return False  # inside disable_adapter(), or merged by someone else: leave it alone
        weight = layer.get_base_layer().weight
        if weight.dtype != torch.float32:
            return False
        if hasattr(weight, "ds_id") or type(weight.data) is not torch.Tensor:
            return False  # sharded (DeepSpeed ZeRO-3 partitions, FSDP DTensors): sampled as peft runs it
    return True


@contextmanager
def lora_merged(model: Any, backup: list[Any] | None = None) -> Iterator[bool]:
    """Merge ``model``'s active LoRA adapter into its base weights for the block, then restore them exactly.

    Args:
        model: Any module; merged only when it is a float32 ``peft.PeftModel`` with active, unmerged LoRA
            adapters (otherwise the block runs on the model as it is).
        backup: Where the base weights are copied before the merge. An empty list is filled and may be passed
            again: later blocks restore from it without copying again, which is right only while the base
            weights stay frozen between the blocks (LoRA training). ``None``: a fresh copy for this block.

    Yields:
        ``True`` when the adapter is merged inside the block, ``False`` when the model was left as it is.

    Use it only for inference (sampling, scoring): inside the block the adapter's weights take no part in
    the forward pass, so no gradient reaches them. On exit (also on an exception) every base weight holds
    its value from before the block, bit for bit, and the adapter is active again.
    """
    import torch

    layers = _lora_layers(model)
    if not _mergeable(model, layers):
        yield False
        return
    saved = [] if backup is None else backup
    with torch.no_grad():
        if not saved:
            saved += [layer.get_base_layer().weight.detach().clone() for layer in layers]
        try:
            model.merge_adapter()
            yield True
        finally:
            if any(layer.merged for layer in layers):
                model.unmerge_adapter()  # resets peft's merged flags (and subtracts the product again)
            for layer, weight in zip(layers, saved, strict=True):
                layer.get_base_layer().weight.copy_(weight)  # no rounding residue from the subtraction


def merge_for_generation(model: Any) -> bool:
    """Make ``model.generate`` sample with the LoRA adapter merged (:func:`lora_merged`) on every call.

    TRL's GRPO and RLOO trainers sample their rollouts with the policy's ``generate``; calling this on the
    trainer's PEFT model makes those rollouts faster without changing the policy they sample from. The base
    weights are copied once, at the first call, not at every rollout: they are frozen while LoRA trains.

    Args:
        model: The trainer's policy; a model that :func:`lora_merged` would not merge is left untouched.

    Returns:
        ``True`` when ``model.generate`` was wrapped, ``False`` when it was left as it is.
    """
    layers = _lora_layers(model)
    if not _mergeable(model, layers) or getattr(model.generate, "_aigc_rl_merged", False):
        return False
    original = model.generate
    backup: list[Any] = []  # the frozen base weights, copied at the first call and restored from after each

    @functools.wraps(original)
    def generate(*args: Any, **kwargs: Any) -> Any:
        with lora_merged(model, backup):
            return original(*args, **kwargs)

    generate._aigc_rl_merged = True  # type: ignore[attr-defined]
    model.generate = generate
    return True
