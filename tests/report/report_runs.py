"""Realistic run directories following the run-directory contract (see aigc_rl/report/runs.py):
two text runs with different reward sets (one that games its reward, one healthy), an image run with
10 x 10 sample grids of real handwritten digits (scikit-learn), and a broken run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

SCRIPT = "<script>alert('x')</script>"

PROMPTS = [
    "Write a short product description for a reusable water bottle.",
    "Explain photosynthesis to a ten-year-old.",
    "How do I reset my router? | step by step",
    "Write a haiku about autumn rain.",
    "Summarise the plot of Hamlet in two sentences.",
    "Give three tips for learning a new language.",
    "Describe a <b>sunrise</b> over the sea.",
    "What is a prime number?",
]


def _ci(mean: float, half: float) -> dict:
    return {"mean": mean, "ci95": [mean - half, mean + half]}


def write_config(d: Path, **cfg) -> None:
    (d / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")


def write_jsonl(path: Path, rows: list[dict], tail: str = "") -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail, encoding="utf-8")


def text_metrics(
    n: int,
    comps: dict[str, tuple[float, float]],
    kl_end: float,
    len0: float,
    len1: float,
    r0: float,
    r1: float,
    entropy: tuple[float, float] = (2.1, 1.5),
    clipped: tuple[float, float] | None = None,
    kl_dip: float | None = None,
) -> list[dict]:
    """Smooth TRL-like curves; ``entropy`` and ``clipped`` (completions/clipped_ratio) go linearly from the
    first to the second value; ``kl_dip`` replaces the KL of the second row (a negative KL)."""
    rows = []
    rng = np.random.default_rng(0)
    for i in range(n):
        t = i / (n - 1)
        ease = 1 - math.exp(-3 * t)
        row = {
            "step": (i + 1) * 5,
            "loss": float(0.02 * rng.standard_normal()),
            "reward": r0 + (r1 - r0) * ease + float(0.01 * rng.standard_normal()),
            "reward_std": 0.12 - 0.04 * t,
            "kl": kl_end * t**1.5,
            "completions/mean_length": len0 + (len1 - len0) * ease,
            "learning_rate": 1e-5 * (1 - t),
            "entropy": entropy[0] + (entropy[1] - entropy[0]) * t,
        }
        if clipped is not None:
            row["completions/clipped_ratio"] = clipped[0] + (clipped[1] - clipped[0]) * t
        if kl_dip is not None and i == 1:
            row["kl"] = kl_dip
        for c, (a, b) in comps.items():
            row[f"rewards/{c}/mean"] = a + (b - a) * ease
            row[f"rewards/{c}/std"] = 0.05
        rows.append(row)
    return rows


def make_hacked_text_run(d: Path) -> Path:
    """GRPO run with reward quality+creativity that games it: longer, repetitive, less diverse, KL over budget."""
    d.mkdir(parents=True)
    write_config(
        d,
        kind="text",
        model="smollm2-135m-instruct",
        task="content",
        reward="quality+creativity",
        agent={"name": "grpo", "beta": 0.0, "num_generations": 4, "lora_r": 8},
        max_steps=150,
        seed=0,
        env="TextCompletion-v0",
    )
    write_jsonl(
        d / "metrics.jsonl",
        text_metrics(
            30,
            {"relevance": (0.47, 0.43), "fluency": (-2.6, -2.2), "distinct-2": (0.60, 0.40)},
            kl_end=1.3,
            len0=24,
            len1=42,
            r0=0.51,
            r1=0.66,
            entropy=(3.4, 1.1),
            clipped=(0.4, 1.0),
            kl_dip=-0.04,
        ),
    )
    ev = {
        "n_prompts": 64,
        "kind": "text",
        "reward": "quality+creativity",
        "components": ["relevance", "fluency", "distinct-2"],
        "policies": {
            "base": {
                "reward": _ci(0.52, 0.03),
                "relevance": _ci(0.48, 0.02),
                "fluency": _ci(-2.61, 0.08),
                "distinct-2": _ci(0.62, 0.03),
                "length": _ci(22.0, 1.5),
                "repetition": _ci(0.03, 0.01),
                "distinct-2-corpus": _ci(0.55, 0.02),
            },
            "tuned": {
                "reward": _ci(0.67, 0.03),
                "relevance": _ci(0.41, 0.02),
                "fluency": _ci(-2.15, 0.07),
                "distinct-2": _ci(0.40, 0.03),
                "length": _ci(36.5, 2.0),
                "repetition": _ci(0.14, 0.02),
                "distinct-2-corpus": _ci(0.31, 0.02),
            },
        },
        "judges": {
            "base": {
                "copy-rate": _ci(0.02, 0.01),
                "completion": _ci(0.62, 0.07),
                "gemma-judge": _ci(0.46, 0.03),
                "gemma-fluency": _ci(3.10, 0.10),
                "mpnet-relevance": _ci(0.35, 0.02),
            },
            "tuned": {
                "copy-rate": _ci(0.31, 0.03),
                "completion": _ci(0.04, 0.03),
                "gemma-judge": _ci(0.31, 0.03),
                "gemma-fluency": _ci(3.45, 0.10),
                "mpnet-relevance": _ci(0.47, 0.02),
            },
        },
    }
    (d / "eval.json").write_text(json.dumps(ev), encoding="utf-8")
    samples = []
    for k, p in enumerate(PROMPTS):
        for j in range(2):
            base_r = 0.45 + 0.02 * k + 0.01 * j
            tuned_r = base_r + (0.25 - 0.06 * k)
            samples.append(
                {
                    "prompt": p,
                    "policy": "base",
                    "completion": f"Base answer {k}.{j}: a plain reply.",
                    "reward": base_r,
                    "relevance": 0.5,
                    "fluency": -2.6,
                    "distinct-2": 0.6,
                }
            )
            text = f"Tuned answer {k}.{j}: great great great value value value."
            if k == 0:
                text = f"{SCRIPT} Tuned answer with markup & pipes | here\nsecond line"
            samples.append(
                {
                    "prompt": p,
                    "policy": "tuned",
                    "completion": text,
                    "reward": tuned_r,
                    "relevance": 0.4,
                    "fluency": -2.1,
                    "distinct-2": 0.4,
                }
            )
    write_jsonl(d / "samples.jsonl", samples)
    return d


def make_healthy_text_run(d: Path, judges: bool = False) -> Path:
    """GRPO run with a different reward set (relevance + self-BLEU) that improves honestly; with ``judges``,
    eval.json holds held-out judges that agree (no copying, completions finish, quality judges rise)."""
    d.mkdir(parents=True)
    write_config(
        d,
        kind="text",
        model="smollm2-135m-instruct",
        task="content",
        reward="relevance+self-bleu:0.5",
        agent={"name": "grpo", "beta": 0.04, "num_generations": 4, "lora_r": 8},
        max_steps=150,
        seed=1,
        env="TextCompletion-v0",
        kl_budget=0.2,
    )
    write_jsonl(
        d / "metrics.jsonl",
        text_metrics(
            30,
            {"relevance": (0.47, 0.55), "self-bleu": (0.36, 0.31)},
            kl_end=0.08,
            len0=24,
            len1=25,
            r0=0.29,
            r1=0.40,
            clipped=(0.30, 0.32),
        ),
    )
    ev = {
        "n_prompts": 64,
        "kind": "text",
        "reward": "relevance+self-bleu:0.5",
        "components": ["relevance", "self-bleu"],
        "policies": {
            "base": {
                "reward": _ci(0.30, 0.03),
                "relevance": _ci(0.48, 0.02),
                "self-bleu": _ci(0.35, 0.02),
                "length": _ci(22.0, 1.5),
                "repetition": _ci(0.03, 0.01),
                "distinct-2-corpus": _ci(0.55, 0.02),
            },
            "tuned": {
                "reward": _ci(0.41, 0.03),
                "relevance": _ci(0.56, 0.02),
                "self-bleu": _ci(0.30, 0.02),
                "length": _ci(24.0, 1.6),
                "repetition": _ci(0.035, 0.01),
                "distinct-2-corpus": _ci(0.58, 0.02),
            },
        },
    }
    if judges:
        ev["judges"] = {
            "base": {
                "copy-rate": _ci(0.02, 0.01),
                "completion": _ci(0.62, 0.07),
                "gemma-judge": _ci(0.46, 0.03),
                "gemma-fluency": _ci(3.10, 0.10),
            },
            "tuned": {
                "copy-rate": _ci(0.05, 0.02),
                "completion": _ci(0.59, 0.07),
                "gemma-judge": _ci(0.55, 0.03),
                "gemma-fluency": _ci(3.02, 0.10),
            },
        }
    (d / "eval.json").write_text(json.dumps(ev), encoding="utf-8")
    samples = []
    for k, p in enumerate(PROMPTS):
        samples.append(
            {
                "prompt": p,
                "policy": "base",
                "completion": f"A base reply to prompt {k}.",
                "reward": 0.3,
                "relevance": 0.48,
                "self-bleu": 0.35,
            }
        )
        samples.append(
            {
                "prompt": p,
                "policy": "tuned",
                "completion": f"A focused, specific reply to prompt {k}.",
                "reward": 0.3 + 0.02 * (k - 2),
                "relevance": 0.55,
                "self-bleu": 0.3,
            }
        )
    write_jsonl(d / "samples.jsonl", samples)
    return d


def digit_grid(path: Path, digits: list[int]) -> None:
    """A 10 x 10 grid of scikit-learn handwritten digits (8 x 8 each), saved as a PNG with matplotlib."""
    from matplotlib.image import imsave
    from sklearn.datasets import load_digits

    data = load_digits()
    rng = np.random.default_rng(len(digits))
    grid = np.zeros((10 * 9 + 1, 10 * 9 + 1))
    for n, target in enumerate(digits[:100]):
        idx = rng.choice(np.flatnonzero(data.target == target))
        r, c = divmod(n, 10)
        grid[1 + 9 * r : 9 + 9 * r, 1 + 9 * c : 9 + 9 * c] = data.images[idx] / 16.0
    imsave(path, grid, cmap="gray_r", vmin=0.0, vmax=1.0)


def make_image_run(d: Path) -> Path:
    """SB3 PPO run steering a digit generator's latent towards the digit 3."""
    d.mkdir(parents=True)
    write_config(
        d,
        kind="image",
        model="digits-vae",
        task="digit-3",
        reward="target-accuracy+diversity:0.3",
        agent="ppo",
        max_steps=20000,
        seed=0,
        env="LatentImage-v0",
    )
    rows = []
    for i in range(40):
        t = i / 39
        acc = 0.1 + 0.75 * (1 - math.exp(-4 * t))
        div = 0.8 - 0.15 * t
        rows.append(
            {
                "step": (i + 1) * 500,
                "reward": acc + 0.3 * div,
                "rewards/target-accuracy/mean": acc,
                "rewards/diversity/mean": div,
            }
        )
    write_jsonl(d / "metrics.jsonl", rows)
    ev = {
        "n_prompts": 100,
        "kind": "image",
        "components": ["target-accuracy", "diversity"],
        "policies": {
            "base": {
                "reward": _ci(0.34, 0.04),
                "target-accuracy": _ci(0.10, 0.03),
                "diversity": _ci(0.80, 0.02),
            },
            "tuned": {
                "reward": _ci(1.05, 0.04),
                "target-accuracy": _ci(0.84, 0.04),
                "diversity": _ci(0.66, 0.03),
            },
        },
    }
    (d / "eval.json").write_text(json.dumps(ev), encoding="utf-8")
    digit_grid(d / "samples_base.png", [n % 10 for n in range(100)])
    digit_grid(d / "samples_tuned.png", [3 if n % 7 else (n % 10) for n in range(100)])
    return d


def make_broken_run(d: Path) -> Path:
    """A run that crashed: config and a truncated metrics.jsonl, no eval.json, no samples."""
    d.mkdir(parents=True)
    write_config(
        d,
        kind="text",
        model="smollm2-135m-instruct",
        task="support",
        reward="quality",
        agent="rloo",
        max_steps=100,
        seed=2,
    )
    rows = text_metrics(
        4, {"relevance": (0.4, 0.45), "fluency": (-2.5, -2.4)}, kl_end=0.02, len0=20, len1=21, r0=0.2, r1=0.25
    )
    write_jsonl(d / "metrics.jsonl", rows, tail='{"step": 25, "reward": 0.2')
    return d


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    make_hacked_text_run(root / "grpo-qc")
    make_healthy_text_run(root / "grpo-rel", judges=True)
    make_image_run(root / "ppo-digits")
    make_broken_run(root / "crashed")
    return root


@pytest.fixture(scope="session")
def full_report(runs_root, tmp_path_factory):
    """(report dict, out dir) for all four runs."""
    from aigc_rl.report import render_report

    out = tmp_path_factory.mktemp("report")
    names = ["grpo-qc", "grpo-rel", "ppo-digits", "crashed"]
    return render_report([runs_root / n for n in names], out), out
