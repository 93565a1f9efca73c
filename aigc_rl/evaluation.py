"""``aigc-rl eval``: sample the base and the tuned policy on held-out prompts and compare them.

Writes ``eval.json`` (``{"n_prompts", "policies": {"base": {METRIC: {"mean", "ci95"}}, "tuned": {...}}, ...}``),
``samples.jsonl`` and the report (``report.md``, ``report.html``, ``report.json``).

Statistics: every metric is first averaged over the samples of one prompt, then summarised over prompts by
its mean and a 95% percentile-bootstrap interval (Efron & Tibshirani 1993; 5,000 resamples of prompts, seeded).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .rewards._text import ngrams, tokenize
from .rewards.creativity import distinct_n_corpus
from .run import atomic_write_json, atomic_write_text, json_safe
from .stats import bootstrap_ci

__all__ = [
    "bootstrap_ci",
    "summarize",
    "repetition_rate",
    "evaluate_run",
    "generate_completions",
    "run_kind",
]


def summarize(per_prompt: dict[str, list[float]], seed: int = 0) -> dict[str, dict[str, Any]]:
    """``{metric: {"mean": float, "ci95": [lo, hi]}}`` from per-prompt values."""
    out = {}
    for k, vals in per_prompt.items():
        arr = np.array([np.nan if v is None else v for v in vals], dtype=np.float64)
        lo, hi = bootstrap_ci(arr, seed=seed)
        out[k] = {"mean": float(np.nanmean(arr)) if np.any(~np.isnan(arr)) else math.nan, "ci95": [lo, hi]}
    return out


def repetition_rate(text: str, n: int = 3) -> float:
    """Fraction of a completion's n-grams that repeat an earlier n-gram of the same completion (0 = none)."""
    g = ngrams(tokenize(text), n)
    return 1.0 - len(set(g)) / len(g) if g else 0.0


def generate_completions(
    model: Any,
    tokenizer: Any,
    prompt_ids: list[list[int]],
    num_samples: int,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    batch_size: int = 32,
    progress: Any = None,
) -> list[list[str]]:
    """Sample ``num_samples`` completions per prompt with ``model.generate`` (left padding, KV cache).

    Returns:
        One list of ``num_samples`` completion strings per prompt (special tokens removed).
    """
    import torch

    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    flat = [ids for ids in prompt_ids for _ in range(num_samples)]
    texts: list[str] = []
    torch.manual_seed(seed)
    for b in range(0, len(flat), batch_size):
        chunk = flat[b : b + batch_size]
        width = max(len(x) for x in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, x in enumerate(chunk):  # left padding; the mask marks padding (pad == eos, case C1)
            ids[r, width - len(x) :] = torch.tensor(x)
            mask[r, width - len(x) :] = 1
        with torch.no_grad():
            out = model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                do_sample=True,
                temperature=temperature,
                top_p=1.0,
                top_k=0,
                max_new_tokens=max_new_tokens,
                pad_token_id=pad,
            )
        texts += tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
        if progress is not None:
            progress.update(len(chunk))
    return [texts[i * num_samples : (i + 1) * num_samples] for i in range(len(prompt_ids))]


def _score_policy(
    task: Any, indices: list[int], completions: list[list[str]]
) -> tuple[dict[str, list[float]], list[dict]]:
    flat_idx = [i for i, cs in zip(indices, completions, strict=True) for _ in cs]
    flat = [c for cs in completions for c in cs]
    groups = [g for g, cs in enumerate(completions) for _ in cs]
    total, comps = task.score(flat_idx, flat, group_ids=groups)
    names = [k for k in comps if not k.endswith("/weighted")]
    per_sample: dict[str, list[float]] = {"reward": [np.nan if v is None else v for v in total]}
    for k in names:
        per_sample[k] = [np.nan if v is None else v for v in comps[k]]
    per_sample["length"] = [float(len(c.split())) for c in flat]
    per_sample["repetition"] = [repetition_rate(c) for c in flat]
    bounds = np.cumsum([0] + [len(cs) for cs in completions])  # each prompt's samples are contiguous
    spans = list(zip(bounds[:-1], bounds[1:], strict=True))
    per_prompt = {k: [float(np.nanmean(v[a:b])) for a, b in spans] for k, v in per_sample.items()}
    # corpus distinct-2 of each prompt's group of samples (Li et al. 2016)
    per_prompt["distinct-2-corpus"] = [distinct_n_corpus(cs, 2) for cs in completions]
    rows = [
        {
            "prompt": task.encode(flat_idx[j])[1],
            "completion": flat[j],
            **{k: per_sample[k][j] for k in per_sample},
        }
        for j in range(len(flat))
    ]
    return per_prompt, rows


def evaluate_run(
    run_dir: str | Path, n_prompts: int | None = None, samples: int | None = None, report: bool = True
) -> dict:
    """Evaluate a run: base policy vs tuned policy on held-out prompts.

    Args:
        run_dir: A run directory written by ``aigc-rl train``.
        n_prompts: Held-out prompts to use (default: the run's ``eval_prompts``, capped by the eval split).
        samples: Completions per prompt and policy (default: the run's ``eval_samples``).
        report: Also write the report files.

    Returns:
        The ``eval.json`` content.

    The run's lock is held while evaluating (a training or another eval of the same run: exit 2), and its
    kind comes from its record (``run.json``; ``config.yaml`` for 0.1.0 runs), not from which files exist.

    Raises:
        FileNotFoundError: the run directory, its record or its adapter is missing (the message says which
            and how to produce it).
        RunLockedError: another process holds the run.
        UserFileError: the adapter cannot be loaded (the message names it).
    """
    from .config import TrainConfig
    from .run import RunDir

    rd = RunDir(run_dir)
    run_dir = rd.path
    if not (rd.record_path.is_file() or (run_dir / "config.yaml").is_file()):
        raise FileNotFoundError(
            f"{run_dir} holds no run record (run.json) or config.yaml: is it a run directory written by "
            "`aigc-rl train`?"
        )
    with rd.locked():  # a training, an overwrite or another eval of this run waits for nobody: exit 2
        kind = run_kind(run_dir)
        if kind == "image":
            result = _evaluate_image(run_dir, n_prompts, samples)
            _write_report(run_dir, report)
            return result
        return _evaluate_text(run_dir, TrainConfig, n_prompts, samples, report)


def run_kind(run_dir: str | Path) -> str:
    """A run's kind (``"text"`` | ``"image"``) from its record: ``run.json``, else ``config.yaml`` (0.1.0).

    Raises:
        ConfigError: the record cannot be read.
    """
    from .config import ConfigError, recorded_config
    from .run import RunDir

    rd = RunDir(run_dir)
    if rd.record_path.is_file():
        try:
            kind = rd.read_record().get("kind")
        except Exception as e:  # RunDirError: unreadable record
            raise ConfigError(str(e)) from None
    else:
        kind = (recorded_config(run_dir) or {}).get("kind")
    return "image" if kind == "image" else "text"


def _evaluate_image(run_dir: Path, n_prompts: int | None, samples: int | None) -> dict:
    """The image run's evaluation, with ``--n-prompts`` / ``--samples`` passed on (see
    :func:`aigc_rl.agents.sb3.latent_eval.evaluate_latent` for their meaning there)."""
    from aigc_rl.agents.sb3.latent import evaluate_latent

    return evaluate_latent(run_dir, n_prompts=n_prompts, samples=samples)


def _evaluate_text(
    run_dir: Path, TrainConfig: Any, n_prompts: int | None, samples: int | None, report: bool
) -> dict:
    from .config import recorded_config

    raw = recorded_config(run_dir) or {}
    cfg_fields = {k: v for k, v in raw.items() if k in TrainConfig.field_names()}
    cfg_fields.update(resume=False, overwrite=False)
    cfg = TrainConfig(**cfg_fields)
    adapter = run_dir / "adapter"
    if not (adapter / "adapter_config.json").exists():
        raise FileNotFoundError(
            f"{adapter} is missing: the run has not finished training (resume it with `aigc-rl train --output-dir "
            f"{run_dir} --resume`)"
        )
    from .models import check_adapter_files

    check_adapter_files(adapter)  # a damaged adapter fails before any model is loaded
    import torch
    from tqdm.auto import tqdm

    from .models import load_adapter, load_causal_lm
    from .train import make_reward, make_text_task, share_reference_model

    n_prompts = n_prompts or cfg.eval_prompts
    samples = samples or cfg.eval_samples
    device = "cuda" if torch.cuda.is_available() and cfg.device != "cpu" else "cpu"
    model, tokenizer = load_causal_lm(cfg.model, device=device)
    reward = make_reward(cfg)
    task = make_text_task(cfg, tokenizer, "eval", reward)
    indices = list(range(min(n_prompts, len(task))))
    prompt_ids = [task.encode(i)[0] for i in indices]
    policy = load_adapter(model, adapter)
    policy.eval()
    share_reference_model(cfg, reward, policy, tokenizer)  # fluency scores with the base, adapter disabled
    total = 2 * len(indices) * samples
    results: dict[str, dict] = {}
    sample_rows: list[dict] = []
    with tqdm(total=total, desc="aigc-rl eval: sampling", unit="completion") as bar:
        for name in ("base", "tuned"):
            gen = lambda: generate_completions(  # noqa: E731
                policy,
                tokenizer,
                prompt_ids,
                samples,
                cfg.max_new_tokens,
                cfg.temperature,
                seed=cfg.seed,
                progress=bar,
            )
            if name == "base":
                with policy.disable_adapter():
                    comps = gen()
            else:
                comps = gen()
            per_prompt, rows = _score_policy(task, indices, comps)
            results[name] = summarize(per_prompt, seed=cfg.seed)
            sample_rows += [dict(r, policy=name) for r in rows]
    out = {
        "n_prompts": len(indices),
        "samples_per_prompt": samples,
        "kind": "text",
        "model": cfg.model,
        "task": cfg.prompts or cfg.task,
        "reward": cfg.reward,
        "components": reward.component_names() if hasattr(reward, "component_names") else [reward.name],
        "weights": getattr(reward, "weights", {}),
        "kl_budget": None,
        "ci_method": "percentile bootstrap over prompts, 5000 resamples",
        "policies": results,
    }
    atomic_write_json(run_dir / "eval.json", out)
    atomic_write_text(
        run_dir / "samples.jsonl",
        "".join(json.dumps(json_safe(r), ensure_ascii=False, allow_nan=False) + "\n" for r in sample_rows),
    )
    _write_report(run_dir, report)
    return out


def _write_report(run_dir: Path, report: bool) -> None:
    if not report:
        return
    try:
        from .report import render_report
    except ImportError:  # report package not built yet
        return
    render_report([run_dir], run_dir)
