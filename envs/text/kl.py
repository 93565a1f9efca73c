"""Per-token KL penalty terms between a policy and its reference model (Schulman 2020, "Approximating KL
Divergence")."""

from __future__ import annotations

import torch

__all__ = ["kl_penalty_terms", "KL_ESTIMATORS"]

KL_ESTIMATORS = ("k1", "k3")


def kl_penalty_terms(logp: torch.Tensor, ref_logp: torch.Tensor, estimator: str) -> torch.Tensor:
    """Per-token KL(policy || reference) estimate from the log-probabilities of the sampled token.

    Estimators from J. Schulman, "Approximating KL Divergence" (2020), with ``log r = ref_logp - logp``:

    * ``"k1"``: ``-log r = logp - ref_logp`` (unbiased, can be negative for a single token);
    * ``"k3"``: ``(r - 1) - log r`` (unbiased, never negative; computed as ``expm1(log r) - log r`` and
      clamped at 0 against float rounding, case D1, huggingface/trl#1161).

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
