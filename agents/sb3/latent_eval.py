"""Evaluate an image run: base policy (prior latents) vs the trained policy, with a held-out judge.

What ``aigc-rl eval --run IMAGE_RUN [--n-prompts N] [--samples K]`` means for an image run: a *prompt* (a
condition) is a target class, so ``N`` is the number of target classes evaluated (classes ``0 .. N-1``,
default all 10) and ``K`` the number of images per class and policy (default 100, at least 2: diversity
needs pairs). Each policy draws ``N * K`` images. Intervals come from :mod:`aigc_rl.stats`, shared with the
text evaluation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from aigc_rl.envs.image.latent_image import LatentImageTask, LatentImageVectorEnv
from aigc_rl.errors import ConfigError, ModelNotFoundError
from aigc_rl.rewards.spec import image_reward_pairs
from aigc_rl.run import RunDir, atomic_write_json, atomic_write_text, json_safe
from aigc_rl.stats import binomial_ci, mean_ci

from .policy_io import ENV_ID, load_policy

__all__ = ["evaluate_latent", "rollout", "DEFAULT_SAMPLES"]

#: Images per target class and policy when ``--samples`` is not given.
DEFAULT_SAMPLES = 100
CI_METHOD = (
    "percentile bootstrap of the mean over images (per-class values for diversity), 5000 resamples; "
    "Wilson score interval for target-accuracy"
)


def _grid(images: np.ndarray, targets: np.ndarray, path: Path, title: str, per_row: int = 10) -> None:
    """A grid PNG (written atomically): one row per target class, ``per_row`` samples each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = sorted(set(int(t) for t in targets))
    fig, axes = plt.subplots(
        len(classes), per_row, figsize=(per_row * 0.6, len(classes) * 0.6 + 0.4), squeeze=False
    )
    for r, c in enumerate(classes):
        imgs = images[targets == c][:per_row]
        for j in range(per_row):
            ax = axes[r, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if j < len(imgs):
                ax.imshow(imgs[j], cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
            if j == 0:
                ax.set_ylabel(str(c), rotation=0, labelpad=8, va="center")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    os.replace(tmp, path)


def rollout(
    model: BaseAlgorithm | None, task: LatentImageTask, targets: np.ndarray, seed: int, deterministic: bool
) -> np.ndarray:
    """Final images of one episode per target, float32 ``(n, H, W)`` in ``[0, 1]``.

    ``model=None`` gives the base policy: the prior latent ``z0`` itself (random latents); otherwise ``model``
    acts on the observation of each target and ``z0`` (the same ``z0`` for the same ``seed``).
    """
    venv = LatentImageVectorEnv(len(targets), latent_task=task)
    obs, _ = venv.reset(seed=seed, options={"target": targets})
    if model is None:
        return task.generate(venv._z.copy())
    images = None
    for _ in range(task.walk_steps):
        actions, _ = model.predict(obs, deterministic=deterministic)
        obs, _, term, _, info = venv.step(actions)
        images = info["image"]
        if term.all():
            break
    return images  # type: ignore[return-value]


def _count(flag: str, value: Any, low: int, high: int, meaning: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not low <= int(value) <= high:
        raise ConfigError(f"{flag} for an image run is {meaning}: an integer in {low}..{high}, got {value!r}")
    return int(value)


def evaluate_latent(
    run_dir: str | Path,
    n_per_class: int | None = None,
    seed: int = 12345,
    deterministic: bool = True,
    judge: str = "judge",
    progress: bool = True,
    *,
    n_prompts: int | None = None,
    samples: int | None = None,
) -> dict[str, Any]:
    """Compare the base policy (prior latents) with the trained policy and write ``eval.json`` + sample grids.

    Both policies get the same targets and the same prior draws ``z0``: the base policy uses ``z0`` as its
    latent (random latents from the prior), the tuned policy acts on the observation built from the target
    and ``z0``. By default the tuned policy acts with its mean action (SB3's ``deterministic=True``, as in
    ``evaluate_policy``): the variety of its images then comes from ``z0`` in the observation, i.e. the
    policy is a conditional generator ``(target, z0) -> latent``.

    Metrics per policy (``{"mean", "ci95": [lo, hi]}``; :func:`aigc_rl.stats.bootstrap_ci` over images,
    :func:`aigc_rl.stats.binomial_ci` for ``target-accuracy``):

    * ``target-accuracy``: fraction of images the held-out **judge** classifier (a CNN trained on split
      ``b``, never used as a reward) assigns to the target class;
    * ``diversity``: mean RMS pixel distance between images of the same target (``image-diversity`` over
      groups of ``samples``), interval over the per-class values;
    * ``reward``: the run's composite reward on the batch (group rewards see groups of the same target, no
      sample memory);
    * each reward component's raw value, and ``judge-target-prob``.

    ``eval.json`` also holds ``reference`` (the same diversity for real digits of the evaluated classes, and
    the judge's accuracy on its held-out split) and ``samples`` (file names and settings).

    Args:
        run_dir: A run directory written by :func:`~aigc_rl.agents.sb3.latent_train.train_latent` (a finished
            run, or an interrupted one: its newest complete checkpoint is evaluated).
        n_per_class: Former name of ``samples`` (used when ``samples`` is not given).
        seed: Seed of the evaluation targets/prior draws (independent of training).
        deterministic: Use the policy's mean action (default) instead of sampling it.
        judge: Judge classifier name or directory.
        progress: tqdm bar over the two policies.
        n_prompts: Target classes evaluated (``--n-prompts``): classes ``0 .. n_prompts-1``; default all.
        samples: Images per class and policy (``--samples``, >= 2); default :data:`DEFAULT_SAMPLES`.

    Returns:
        The ``eval.json`` content.

    Raises:
        ModelNotFoundError: no run / policy in ``run_dir``.
        ConfigError: ``n_prompts`` outside ``1 .. n_classes`` or ``samples`` < 2.
        UserFileError: unreadable policy files.
        RunLockedError: a training of this run is in progress.
    """
    from tqdm.auto import tqdm

    from aigc_rl.generators.data import load_images
    from aigc_rl.generators.store import load_model
    from aigc_rl.progress import tqdm_disabled
    from aigc_rl.rewards.composite import make_composite
    from aigc_rl.rewards.image import ImageDiversity

    run_dir = Path(run_dir)
    k = samples if samples is not None else (n_per_class if n_per_class is not None else DEFAULT_SAMPLES)
    k = _count("--samples", k, 2, 100_000, "the number of images per target class (diversity needs pairs)")
    meta_path = run_dir / "latent.json"
    if not meta_path.is_file():
        raise ModelNotFoundError(
            f"{run_dir} holds no latent.json: is it a run written by `aigc-rl train --env {ENV_ID}`?"
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    rd = RunDir(run_dir)
    with rd.locked():
        model = load_policy(run_dir)
        reward_model: Any = make_composite(image_reward_pairs(meta["reward"]))
        ekw = {**meta.get("env_kwargs", {}), "memory_size": 0}
        task = LatentImageTask(generator=meta["generator"], reward=reward_model, **ekw)
        n_classes = _count(
            "--n-prompts",
            task.n_classes if n_prompts is None else n_prompts,
            1,
            task.n_classes,
            "the number of target classes evaluated",
        )
        judge_model: Any = load_model(judge)
        classes = np.arange(n_classes)
        targets = np.repeat(classes, k)
        diversity = ImageDiversity()

        results: dict[str, dict[str, Any]] = {}
        per_sample: dict[str, dict[str, np.ndarray]] = {}
        for name in tqdm(["base", "tuned"], desc="evaluate latent policy", disable=tqdm_disabled(progress)):
            images = rollout(None if name == "base" else model, task, targets, seed, deterministic)
            total, comps = reward_model.compute(images, None, target=targets.tolist())
            with torch.no_grad():
                probs = judge_model.probs(torch.from_numpy(images))
            pred = probs.argmax(1).numpy()
            correct = pred == targets
            div = np.array(diversity.raw(images, None, target=targets.tolist()), dtype=np.float64)
            per_class_div = np.array([div[targets == c].mean() for c in classes])
            div_summary = mean_ci(per_class_div, seed=seed)
            div_summary["per_class"] = per_class_div.round(5).tolist()
            m: dict[str, Any] = {
                "target-accuracy": {
                    "mean": float(correct.mean()),
                    "ci95": list(binomial_ci(int(correct.sum()), len(correct))),
                },
                "diversity": div_summary,
                "reward": mean_ci(
                    np.array([np.nan if v is None else v for v in total], dtype=np.float64), seed
                ),
            }
            for c, v in comps.items():
                if not c.endswith("/weighted"):
                    m[c] = mean_ci(np.array([np.nan if x is None else x for x in v], dtype=np.float64), seed)
            m["judge-target-prob"] = mean_ci(probs[np.arange(len(targets)), targets].numpy(), seed)
            results[name] = m
            per_sample[name] = {
                "pred": pred,
                "reward": np.array([0.0 if v is None else v for v in total]),
                "div": div,
            }
            _grid(
                images,
                targets,
                run_dir / f"samples_{name}.png",
                f"{name} policy: one row per target class ({meta['agent']}, {meta['generator']})",
            )

        reference: dict[str, Any] = {}
        if tuple(task.image_shape) == (8, 8):  # real digits of the evaluated classes
            x_real, y_real = load_images("digits", "all")
            keep = y_real < n_classes
            x_real, y_real = x_real[keep], y_real[keep]
            real_div = np.array(diversity.raw(x_real, None, target=y_real.tolist()), dtype=np.float64)
            per_class_real = np.array([real_div[y_real == c].mean() for c in classes])
            reference["diversity_real"] = mean_ci(per_class_real, seed)
            reference["diversity_real"]["per_class"] = per_class_real.round(5).tolist()
            for name in ("tuned", "base"):
                reference[f"diversity_ratio_{name}_to_real"] = float(
                    results[name]["diversity"]["mean"] / per_class_real.mean()
                )
            xa, ya = load_images("digits", "a")
            with torch.no_grad():
                reference["judge_accuracy_real_split_a"] = float(
                    (judge_model.probs(torch.from_numpy(xa)).argmax(1).numpy() == ya).mean()
                )
        out = {
            "kind": "image",
            "n_prompts": n_classes,
            "samples_per_prompt": k,
            "n_samples": int(len(targets)),
            "ci_method": CI_METHOD,
            "policies": results,
            "reference": reference,
            "samples": {
                "base": "samples_base.png",
                "tuned": "samples_tuned.png",
                "per_sample": "samples.jsonl",
                "n_per_class": k,
                "classes": classes.tolist(),
                "seed": int(seed),
                "deterministic": bool(deterministic),
                "judge": str(judge),
            },
            "run": {
                "agent": meta["agent"],
                "generator": meta["generator"],
                "reward": meta["reward"],
                "num_timesteps": int(model.num_timesteps),
            },
        }
        atomic_write_json(run_dir / "eval.json", out)
        lines = []
        for name, d in per_sample.items():
            for i in range(len(targets)):
                row = {
                    "policy": name,
                    "index": i,
                    "target": int(targets[i]),
                    "judge_pred": int(d["pred"][i]),
                    "reward": float(d["reward"][i]),
                    "diversity": float(d["div"][i]),
                }
                lines.append(json.dumps(row) + "\n")
        atomic_write_text(run_dir / "samples.jsonl", "".join(lines))
    return json_safe(out)
