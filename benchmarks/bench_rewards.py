"""Throughput of every text reward, and its overhead over the bare library call it wraps.

Prints one JSON line per reward::

    {"reward": "relevance", "n": 256, "samples_per_s": 97.1, "baseline": "SentenceTransformer.encode",
     "baseline_samples_per_s": 98.9, "ratio": 0.98}

``ratio`` = reward throughput / bare-library throughput on the same batch (1.0 = no overhead; the goal for
model-based rewards is >= 0.95). Completions are ~40 tokens (about 30 words of English built from the shipped
prompt sets), in groups of 8 per prompt as GRPO samples them. Each timing is the median of ``--repeats`` runs
(``--model-repeats`` for embedding/classifier rewards, 1 for the LM-based ones) after one warm-up call (which loads the models), reward and baseline interleaved. The LM-based rewards (fluency, judge) run SmolLM2-135M on CPU
and use ``--lm-n`` completions to keep the run short; the rate is per sample either way.

Run: ``python benchmarks/bench_rewards.py [--n 256] [--lm-n 16] [--repeats 5] [--model-repeats 3] [--only bleu,chrf]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from importlib import resources
from typing import Any


def make_batch(n: int, group: int = 8, seed: int = 0) -> tuple[list[str], list[str], list[list[str]]]:
    """``n`` completions (~30 words each), their prompts (``n / group`` distinct) and one reference each."""
    rng = random.Random(seed)
    texts = []
    for f in sorted(resources.files("aigc_rl.data.prompts").iterdir(), key=lambda p: p.name):
        if f.name.endswith(".jsonl"):
            texts += [
                json.loads(line)["prompt"]
                for line in f.read_text(encoding="utf-8").splitlines()
                if line.strip()
            ]
    words = " ".join(texts).split()

    def sentence(k: int) -> str:
        start = rng.randrange(len(words) - k)
        return " ".join(words[start : start + k])

    prompts = [rng.choice(texts) for _ in range(max(1, n // group))]
    prompts = [prompts[i // group] for i in range(n)]
    completions = [sentence(30) for _ in range(n)]
    refs = [[sentence(30)] for _ in range(n)]
    return completions, prompts, refs


MODEL_BASED = ("relevance", "reward-model", "embedding-diversity", "semantic-novelty", "fluency", "judge")


def compare(
    fn: Callable[[], Any], base: Callable[[], Any] | None, repeats: int
) -> tuple[float, float | None]:
    """Median seconds of ``fn`` and of ``base``, after one warm-up call each (model loading, caches).

    The two are interleaved, alternating which goes first, so that load from other processes on a shared
    machine hits both alike.
    """
    fn()
    if base is not None:
        base()
    t_fn: list[float] = []
    t_base: list[float] = []
    for k in range(repeats):
        order = [(fn, t_fn), (base, t_base)] if k % 2 == 0 else [(base, t_base), (fn, t_fn)]
        for f, acc in order:
            if f is None:
                continue
            t0 = time.perf_counter()
            f()
            acc.append(time.perf_counter() - t0)
    return statistics.median(t_fn), (statistics.median(t_base) if t_base else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument(
        "--lm-n", type=int, default=16, help="completions for the SmolLM2-based rewards (CPU is slow)"
    )
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of the library-only rewards")
    ap.add_argument(
        "--model-repeats", type=int, default=3, help="timed runs of the embedding/classifier rewards"
    )
    ap.add_argument("--only", default="", help="comma-separated reward names")
    args = ap.parse_args()

    import sacrebleu
    import torch
    from rouge_score import rouge_scorer

    from aigc_rl.rewards import make
    from aigc_rl.rewards._builtin import TEXT_REWARDS
    from aigc_rl.rewards.quality import default_embedding_model, load_sentence_transformer

    comps, prompts, refs = make_batch(args.n)
    lm_comps, lm_prompts = comps[: args.lm_n], prompts[: args.lm_n]
    st = load_sentence_transformer()

    def encode(texts: list[str]) -> Any:
        return st.encode(
            texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )

    # the reward model: all-MiniLM-L6-v2's BERT with a fresh 1-label head (no real reward model ships offline)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    rm_path = default_embedding_model()
    rm = AutoModelForSequenceClassification.from_pretrained(rm_path, num_labels=1).eval()
    rm_tok = AutoTokenizer.from_pretrained(rm_path)

    @torch.no_grad()
    def bare_classifier() -> None:
        for b in range(0, len(comps), 16):
            enc = rm_tok(
                comps[b : b + 16], padding=True, truncation=True, max_length=512, return_tensors="pt"
            )
            rm(**enc).logits[:, 0].tolist()

    corpus = [r[0] for r in refs]
    lm_state: dict[str, Any] = {}

    def lm() -> tuple[Any, Any]:
        if not lm_state:
            from aigc_rl.models import load_causal_lm

            m, t = load_causal_lm("smollm2-135m-instruct")
            lm_state.update(model=m.eval(), tok=t)
        return lm_state["model"], lm_state["tok"]

    @torch.no_grad()
    def bare_lm(texts: list[str], batch: int, side: str) -> None:
        model, tok = lm()
        for b in range(0, len(texts), batch):
            enc = tok(texts[b : b + batch], padding=True, return_tensors="pt", padding_side=side)
            keep = {"logits_to_keep": 1} if side == "left" else {}  # as the judge does
            model(**enc, **keep).logits[:, -1].float().softmax(-1)

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    import textstat

    def self_bleu_bare() -> None:
        for g in range(0, len(comps), 8):
            grp = comps[g : g + 8]
            for i, c in enumerate(grp):
                sacrebleu.sentence_bleu(c, grp[:i] + grp[i + 1 :])

    judge_reward: dict[str, Any] = {}

    def judge_texts() -> list[str]:
        r = judge_reward.setdefault("r", make("judge", model=lm()[0], tokenizer=lm()[1]))
        r._load()
        return [r._prompt_text(p, c) for p, c in zip(lm_prompts, lm_comps, strict=True)]

    # name -> (reward kwargs, call kwargs, completions, prompts, baseline name, baseline callable or None)
    plan: dict[str, tuple[dict, dict, list[str], list[str], str, Callable[[], Any] | None]] = {
        "relevance": ({}, {}, comps, prompts, "SentenceTransformer.encode",
                      lambda: encode(list(dict.fromkeys(prompts)) + comps)),
        "fluency": ({"model": None}, {}, lm_comps, lm_prompts, "SmolLM2 forward (same batches)",
                    lambda: bare_lm([(lm()[1].bos_token or lm()[1].eos_token) + c for c in lm_comps], 16, "right")),
        "bleu": ({}, {"references": refs}, comps, prompts, "sacrebleu.sentence_bleu loop",
                 lambda: [sacrebleu.sentence_bleu(c, r) for c, r in zip(comps, refs, strict=True)]),
        "chrf": ({}, {"references": refs}, comps, prompts, "sacrebleu.sentence_chrf loop",
                 lambda: [sacrebleu.sentence_chrf(c, r) for c, r in zip(comps, refs, strict=True)]),
        "rouge-l": ({}, {"references": refs}, comps, prompts, "RougeScorer.score_multi loop",
                    lambda: [scorer.score_multi(r, c) for c, r in zip(comps, refs, strict=True)]),
        "sentiment": ({}, {}, comps, prompts, "VADER polarity_scores loop",
                      lambda: [vader.polarity_scores(c) for c in comps]),
        "readability": ({}, {}, comps, prompts, "textstat.flesch_reading_ease loop",
                        lambda: [textstat.flesch_reading_ease(c) for c in comps]),
        "reward-model": ({"model": rm, "tokenizer": rm_tok}, {}, comps, prompts,
                         "AutoModelForSequenceClassification forward (MiniLM-BERT, 1-label head)", bare_classifier),
        "judge": ({}, {}, lm_comps, lm_prompts, "SmolLM2 forward on the judge prompts",
                  lambda: bare_lm(judge_texts(), 8, "left")),
        "length": ({}, {}, comps, prompts, "", None),
        "format": ({}, {}, comps, prompts, "", None),
        "distinct-1": ({}, {}, comps, prompts, "", None),
        "distinct-2": ({}, {}, comps, prompts, "", None),
        "distinct-3": ({}, {}, comps, prompts, "", None),
        "self-bleu": ({}, {}, comps, prompts, "sacrebleu.sentence_bleu loop over groups", self_bleu_bare),
        "embedding-diversity": ({}, {}, comps, prompts, "SentenceTransformer.encode", lambda: encode(comps)),
        "novelty": ({"corpus": corpus}, {}, comps, prompts, "", None),
        "semantic-novelty": ({"corpus": corpus}, {}, comps, prompts, "SentenceTransformer.encode (completions)",
                             lambda: encode(comps)),
        "harm": ({}, {}, comps, prompts, "", None),
    }  # fmt: skip
    only = [s for s in args.only.split(",") if s]
    for name in TEXT_REWARDS:
        if only and name not in only:
            continue
        kw, call_kw, c, p, base_name, base = plan[name]
        if name == "fluency":
            kw = {"model": lm()[0], "tokenizer": lm()[1]}
        if name == "judge":
            judge_texts()
            reward = judge_reward["r"]
        else:
            reward = make(name, **kw)
        if name in ("fluency", "judge"):
            repeats = 1
        elif base is not None and name in MODEL_BASED:
            repeats = args.model_repeats
        else:
            repeats = args.repeats
        t, tb = compare(
            lambda reward=reward, c=c, p=p, call_kw=call_kw: reward(c, p, **call_kw), base, repeats
        )
        row: dict[str, Any] = {"reward": name, "n": len(c), "samples_per_s": round(len(c) / t, 1)}
        if tb is not None:
            row.update(
                baseline=base_name, baseline_samples_per_s=round(len(c) / tb, 1), ratio=round(tb / t, 3)
            )
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
