"""Tokens/s of ``model.generate`` vs the batched token env driven by the KV-cached rollout helper.

Same process, same model, same prompts (chat-formatted, left-padded), same batch, pure sampling at
temperature 1 (no top-k/top-p), no early stop (every row generates exactly ``n`` tokens: ``generate`` gets no
EOS, the env no stop token). The env side counts everything a user of ``gym.make_vec`` pays: reset and
prompt prefill, one forward pass per step, observation updates, decoding and a reward (distinct-2) at the end.
Prints one JSON line per length::

    {"new_tokens": 32, "batch": 8, "generate_tok_s": ..., "env_tok_s": ..., "ratio": env/generate, ...}

Usage::

    AIGC_RL_CACHE=/tmp/aigc_cache python benchmarks/bench_rollout.py            # SmolLM2, 32 and 128 tokens
    python benchmarks/bench_rollout.py --model HuggingFaceTB/SmolLM2-135M-Instruct --lengths 32 --repeats 3
    python benchmarks/bench_rollout.py --env-first    # alternate the order on a shared machine
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="smollm2-135m-instruct", help="model name for aigc_rl.models.load_causal_lm"
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lengths", type=int, nargs="+", default=[32, 128])
    parser.add_argument(
        "--repeats", type=int, default=2, help="timed runs per side and length (median reported)"
    )
    parser.add_argument("--task", default="content")
    parser.add_argument(
        "--env-first", action="store_true", help="time the env before generate in each repeat"
    )
    parser.add_argument("--own-forward", action="store_true", help="also time the helper's own forward mode")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers import GenerationConfig

    import aigc_rl  # noqa: F401
    from aigc_rl.agents.rollout import LMRollout
    from aigc_rl.envs.text.token_generation import TokenGenerationVectorEnv
    from aigc_rl.models import load_causal_lm
    from aigc_rl.prompt_encoding import PromptEncoder, load_prompt_texts

    model, tok = load_causal_lm(args.model, device="cpu" if not torch.cuda.is_available() else None)
    model.eval()
    prompts = load_prompt_texts(None, args.task, "train")[: args.batch]
    enc = PromptEncoder(tok, 96)
    ids = [enc(p) for p in prompts]
    width = max(len(x) for x in ids)
    device = next(model.parameters()).device
    input_ids = torch.full((len(ids), width), tok.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(input_ids)
    for r, x in enumerate(ids):
        input_ids[r, width - len(x) :] = torch.tensor(x)
        mask[r, width - len(x) :] = 1
    input_ids, mask = input_ids.to(device), mask.to(device)

    def run_generate(n: int) -> float:
        cfg = GenerationConfig(
            do_sample=True,
            top_k=0,
            top_p=1.0,
            temperature=1.0,
            max_new_tokens=n,
            min_new_tokens=n,
            eos_token_id=None,
            pad_token_id=tok.pad_token_id,
            bos_token_id=tok.bos_token_id,
        )
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model.generate(input_ids=input_ids, attention_mask=mask, generation_config=cfg)
        dt = time.perf_counter() - t0
        assert out.shape[1] - width == n
        return len(ids) * n / dt

    envs: dict[int, TokenGenerationVectorEnv] = {}

    def run_env(n: int, own: bool = False) -> float:
        key = n * 2 + int(own)
        if key not in envs:
            envs[key] = TokenGenerationVectorEnv(
                num_envs=len(ids),
                model=model,
                tokenizer=tok,
                reward="distinct-2",
                prompts=prompts,
                max_prompt_tokens=96,
                max_new_tokens=n,
                stop_token_ids=(),
                expose_logits=not own,
            )
        env = envs[key]
        helper = LMRollout(env, policy=model if own else None, seed=0)
        res = helper.collect(episodes_per_env=1, seed=0, options={"prompt_index": list(range(len(ids)))})
        assert res.num_tokens == len(ids) * n and all(len(e.completion_ids) == n for e in res.episodes)
        return res.tokens_per_second

    for n in args.lengths:  # warm-up (allocator, kernels)
        run_generate(min(n, 8))
        run_env(min(n, 8))
    for n in args.lengths:
        gen, env, own = [], [], []
        for _ in range(args.repeats):
            if args.env_first:
                env.append(run_env(n))
                gen.append(run_generate(n))
            else:
                gen.append(run_generate(n))
                env.append(run_env(n))
            if args.own_forward:
                own.append(run_env(n, own=True))
        g, e = statistics.median(gen), statistics.median(env)
        line = {
            "model": args.model,
            "new_tokens": n,
            "batch": len(ids),
            "generate_tok_s": round(g, 2),
            "env_tok_s": round(e, 2),
            "ratio": round(e / g, 3),
            "order": "env-first" if args.env_first else "generate-first",
            "repeats": args.repeats,
            "generate_runs": [round(x, 2) for x in gen],
            "env_runs": [round(x, 2) for x in env],
            "threads": torch.get_num_threads(),
        }
        if own:
            line["env_own_forward_tok_s"] = round(statistics.median(own), 2)
            line["own_forward_ratio"] = round(statistics.median(own) / g, 3)
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
