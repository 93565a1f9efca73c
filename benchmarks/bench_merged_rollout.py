"""Sampling time of a LoRA policy with the adapter merged (agents/trl/merged.py) ÷ with the adapter unmerged.

The embedded SmolLM2-135M-Instruct gets the main job's LoRA adapter (rank 16, alpha 32, every linear layer)
with random non-zero ``B`` matrices (a trained-looking adapter; the timing does not depend on the values).
Each round samples ``--tokens`` new tokens (no early stop) for a batch of chat prompts, once through
``lora_merged`` and once as peft runs it, alternating which goes first; the medians are compared. Batch 8 is a
GRPO step of the main job (2 prompts x 4 completions), batch 64 the evaluation's batch. Also checks that
the base weights are the same bit for bit afterwards.

Prints one JSON object::

    {"tokens": 32, "rounds": 3, "threads": 2, "batches": {"8": {"unmerged_s": 4.8, "merged_s": 3.9,
     "ratio": 0.81}, ...}, "base_restored": true}

``ratio`` = merged ÷ unmerged seconds (lower is better).

Run: ``python benchmarks/bench_merged_rollout.py [--batches 8 64] [--rounds 3] [--tokens 32]`` (offline; the
embedded model must be installed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def main(argv: list[str] | None = None) -> int:
    import torch
    from peft import get_peft_model

    from aigc_rl.agents.trl.merged import lora_merged
    from aigc_rl.agents.trl.trainer import lora_config
    from aigc_rl.config import TrainConfig
    from aigc_rl.models import load_causal_lm

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[8, 64])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=32)
    a = ap.parse_args(argv)

    model, tok = load_causal_lm("smollm2-135m-instruct", device="cpu")
    policy = get_peft_model(model, lora_config(TrainConfig())).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.01)
    base = {n: p.detach().clone() for n, p in policy.named_parameters() if "lora_" not in n}
    requests = [
        "Write a slogan for a bicycle repair shop.",
        "Write a headline for a library's book sale.",
        "Explain in one sentence why the sky is blue.",
        "Write a one-sentence note announcing new opening hours.",
    ]

    backup: list = []  # the base weights, copied once as in training's merged rollouts (merge_for_generation)

    def sample(batch: int, merged: bool) -> float:
        texts = [
            tok.apply_chat_template(
                [{"role": "user", "content": requests[i % len(requests)]}],
                tokenize=False,
                add_generation_prompt=True,
            )
            for i in range(batch)
        ]
        enc = tok(texts, return_tensors="pt", padding=True, padding_side="left")
        kwargs = dict(do_sample=True, top_k=0, top_p=1.0, max_new_tokens=a.tokens, min_new_tokens=a.tokens)
        t0 = time.perf_counter()
        with torch.no_grad():
            if merged:
                with lora_merged(policy, backup) as did:
                    assert did
                    policy.generate(**enc, **kwargs, pad_token_id=tok.pad_token_id)
            else:
                policy.generate(**enc, **kwargs, pad_token_id=tok.pad_token_id)
        return time.perf_counter() - t0

    out: dict = {"tokens": a.tokens, "rounds": a.rounds, "threads": torch.get_num_threads(), "batches": {}}
    for batch in a.batches:
        sample(batch, True)  # warm-up
        times: dict[bool, list[float]] = {True: [], False: []}
        for r in range(a.rounds):
            for merged in (r % 2 == 0, r % 2 == 1):
                times[merged].append(sample(batch, merged))
        u, m = statistics.median(times[False]), statistics.median(times[True])
        out["batches"][str(batch)] = {
            "unmerged_s": round(u, 2),
            "merged_s": round(m, 2),
            "ratio": round(m / u, 3),
        }
    after = {n: p.detach() for n, p in policy.named_parameters() if "lora_" not in n}
    out["base_restored"] = all(torch.equal(after[n], w) for n, w in base.items())
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
