"""``aigc-rl generate``: sample a finished run's policies side by side, scored by the reward and the judges.

Text runs (:func:`generate_text`): each policy of the run (``base`` = the pretrained model, i.e. the tuned
policy with its LoRA adapter disabled; ``init`` = the fine-tuned policy a ``--init`` run started from;
``tuned`` = the run's adapter) samples ``n`` completions of each prompt with the same seed (the policies
are built exactly as ``aigc-rl eval`` builds them, :func:`aigc_rl.agents.trl.run.run_policies`). Each
completion is scored by every component of the run's training reward and by the held-out judges chosen with
``--judges`` (:mod:`aigc_rl.judges.evaluate`; by default the model-free ones, :data:`DEFAULT_JUDGES`).

Image runs (:func:`generate_image`): ``n`` images of one target class from the base policy (random latents
of the generator's prior) and from the tuned policy, with the same prior draws, written as a two-row grid
PNG; each image is titled with the class the held-out judge classifier predicts.

Generation only reads the run: it takes no lock (a training that holds the run's lock does not stop it, and
it does not stop the training) and writes only the files it is asked for (``--jsonl``, ``--out``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .config import ConfigError
from .errors import UserFileError

__all__ = [
    "DEFAULT_JUDGES",
    "DEFAULT_TEXT_PROMPTS",
    "DEFAULT_IMAGES",
    "POLICY_CHOICES",
    "GenerateOptions",
    "check_run",
    "generate_text",
    "generate_image",
    "grid_size",
    "check_out_file",
    "write_jsonl",
    "text_table",
    "image_summary",
]

#: ``--judges`` of ``aigc-rl generate`` when not given: the cheap model-free judges.
DEFAULT_JUDGES = "copy-rate,completion,ead"
#: Held-out prompts of the run's task sampled when neither ``--prompt`` nor ``--prompts`` is given.
DEFAULT_TEXT_PROMPTS = 3
#: Images per policy of an image run when ``-n`` is not given.
DEFAULT_IMAGES = 8
#: ``--policy`` values (``all`` = every policy of the run in lineage order).
POLICY_CHOICES = ("base", "init", "tuned", "all")

# Grid geometry in inches at _DPI: whole pixels (every number an exact binary fraction).
_DPI = 80
_CELL_IN = 1.0  # one image (80 px)
_LABEL_IN = 1.25  # the row labels on the left (100 px)
_HEIGHT_IN = 3.125  # two rows and the title (250 px)


@dataclass
class GenerateOptions:
    """What ``aigc-rl generate`` was asked for (``None``: the run's own setting or the default).

    Attributes:
        prompts: Prompt texts (``--prompt``), or ``None``.
        prompts_file: A prompt file (``--prompts``; every row, both splits), or ``None``.
        n: Completions per prompt and policy (text, default 1) or images per policy (image, default 8).
        policy: ``base``, ``init``, ``tuned`` or ``all``.
        seed: Sampling seed (default: the run's seed).
        max_new_tokens: Text: completion length limit (default: the run's).
        temperature: Text: sampling temperature (default: the run's).
        judges: Text: ``--judges`` (default :data:`DEFAULT_JUDGES`).
        target_class: Image: the class drawn (default: the run's fixed target, else 0).
        out: Image: the grid PNG path (default ``generate-<run name>-class<C>.png`` in the working directory).
    """

    prompts: list[str] | None = None
    prompts_file: str | None = None
    n: int | None = None
    policy: str = "all"
    seed: int | None = None
    max_new_tokens: int | None = None
    temperature: float | None = None
    judges: str | None = None
    target_class: int | None = None
    out: str | None = None

    def check(self) -> None:
        """Check the values that need no run.

        Raises:
            ConfigError: a count or limit below 1, a temperature that is not > 0, an unknown policy, or an
                empty ``--prompt``.
        """
        for flag, v in (("-n", self.n), ("--max-new-tokens", self.max_new_tokens)):
            if v is not None and v < 1:
                raise ConfigError(f"{flag} must be an integer >= 1, got {v}")
        if self.temperature is not None and not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError(f"--temperature must be a number > 0, got {self.temperature}")
        if self.policy not in POLICY_CHOICES:
            raise ConfigError(f"--policy must be one of {', '.join(POLICY_CHOICES)}, got {self.policy!r}")
        if self.seed is not None and not 0 <= self.seed < 2**32:
            raise ConfigError(f"--seed must be an integer in 0..{2**32 - 1}, got {self.seed}")
        for p in self.prompts or []:
            if not p.strip():
                raise ConfigError("--prompt is empty; pass the request text, e.g. --prompt 'write a haiku'")


def check_run(run_dir: str | Path) -> tuple[Path, str]:
    """The run directory and its kind (``"text"`` | ``"image"``); reads only.

    Raises:
        FileNotFoundError: no such directory, or it holds no run record (``run.json`` / ``config.yaml``).
        ConfigError: the record cannot be read.
    """
    from .evaluation import run_kind

    d = Path(run_dir).expanduser()
    if not d.is_dir():
        raise FileNotFoundError(f"--run {run_dir}: no such run directory (train one with `aigc-rl train`)")
    if not ((d / "run.json").is_file() or (d / "config.yaml").is_file()):
        raise FileNotFoundError(
            f"--run {run_dir} holds no run record (run.json) or config.yaml: is it a run directory written by "
            "`aigc-rl train`?"
        )
    return d, run_kind(d)


def check_out_file(path: str | Path, flag: str) -> Path:
    """``path`` as a ``Path``, checked before anything is generated.

    Raises:
        FileExistsError: ``path`` is a directory.
        FileNotFoundError: its directory does not exist.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        raise FileExistsError(f"{flag} {path} is a directory; pass a file path")
    if not p.parent.is_dir():
        raise FileNotFoundError(f"{flag} {path}: the directory {p.parent} does not exist; create it first")
    return p


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` as strict JSON lines (NaN as null), atomically."""
    from .run import atomic_write_text, json_safe

    atomic_write_text(
        path, "".join(json.dumps(json_safe(r), ensure_ascii=False, allow_nan=False) + "\n" for r in rows)
    )


# -- text -----------------------------------------------------------------------------------------------------


def _text_prompt_rows(opts: GenerateOptions) -> list[dict[str, Any]] | None:
    """Prompt rows of ``--prompt`` / ``--prompts`` (``None``: the run's held-out prompts)."""
    if opts.prompts:
        return [{"id": f"prompt-{i:05d}", "prompt": p} for i, p in enumerate(opts.prompts)]
    if opts.prompts_file is not None:
        from .prompts import load_prompts

        return load_prompts(opts.prompts_file, "all")
    return None


def generate_text(run_dir: str | Path, opts: GenerateOptions) -> list[dict[str, Any]]:
    """Sample a finished text run's policies on the same prompts and score every completion.

    Args:
        run_dir: A finished text run directory (``aigc-rl train``).
        opts: The options (checked here); ``opts.jsonl`` is not read: the caller writes the rows.

    Returns:
        One row per completion, ordered by prompt, then sample, then policy (lineage order):
        ``{"prompt": str (the request text), "prompt_index": int, "sample": int, "policy": str,
        "completion": str, "finished": bool (ended with EOS inside the token limit), "rewards": {"reward":
        float (the run's composite), COMPONENT: float, ...}, "judges": {JUDGE: float}}``. A value that does
        not apply (e.g. a reference-based reward on a prompt without references) is NaN.

    Raises:
        FileNotFoundError: the run has not finished (no adapter), or a prompt file is missing.
        ConfigError: a bad option, ``--policy init`` on a run without an init, or a bad ``--judges``.
        PromptFileError: a malformed prompt file.
        UserFileError: damaged adapter files.
    """
    opts.check()
    from .judges.evaluate import score_judges, select_judges

    judge_names, _ = select_judges(opts.judges if opts.judges is not None else DEFAULT_JUDGES)
    from .agents.trl.run import (
        check_model_limits,
        make_reward,
        make_text_task,
        policy_names,
        run_policies,
        sample_completions,
        text_run_config,
    )

    run_dir = Path(run_dir)
    cfg = text_run_config(run_dir)
    available = policy_names(cfg, run_dir)
    if opts.policy == "init" and "init" not in available:
        raise ConfigError(
            f"--policy init: the run {run_dir} has no init policy (it was not trained with --init); choose "
            "base, tuned or all"
        )
    names = available if opts.policy == "all" else (opts.policy,)
    rows_in = _text_prompt_rows(opts)  # a bad prompt file fails before any model is loaded
    if opts.max_new_tokens is not None:
        cfg = replace(cfg, max_new_tokens=opts.max_new_tokens)
    from .models import load_causal_lm, resolve_model

    check_model_limits(cfg, resolve_model(cfg.model))
    n = opts.n or 1
    seed = cfg.seed if opts.seed is None else opts.seed
    temperature = cfg.temperature if opts.temperature is None else opts.temperature

    import torch
    from tqdm.auto import tqdm

    from .progress import tqdm_disabled
    from .task import TextTask

    device = "cuda" if torch.cuda.is_available() and cfg.device != "cpu" else "cpu"
    model, tokenizer = load_causal_lm(cfg.model, device=device)
    reward = make_reward(cfg)
    if rows_in is None:
        task = make_text_task(cfg, tokenizer, "eval", reward)
        indices = list(range(min(DEFAULT_TEXT_PROMPTS, len(task))))
    else:
        task = TextTask(
            prompts=rows_in,
            split="all",
            reward=reward,
            tokenizer=tokenizer,
            max_prompt_tokens=cfg.max_prompt_tokens,
            max_new_tokens=cfg.max_new_tokens,
        )
        indices = list(range(len(task)))
    prompt_ids = [task.encode(i)[0] for i in indices]
    prompt_texts = [task.encode(i)[1] for i in indices]
    policies = run_policies(cfg, run_dir, names, model, tokenizer, reward, device)
    del model
    by_policy: dict[str, list[dict[str, Any]]] = {}
    judge_cache: dict[str, Any] = {}
    total = len(names) * len(indices) * n
    with tqdm(total=total, desc="aigc-rl generate", unit="completion", disable=tqdm_disabled()) as bar:
        for name, policy, mode in policies:
            with mode:
                comps, finished = sample_completions(
                    policy, tokenizer, prompt_ids, n, cfg.max_new_tokens, temperature, seed=seed, progress=bar
                )
            del policy
            flat = [c for cs in comps for c in cs]
            flat_idx = [i for i in indices for _ in range(n)]
            flat_finished = [f for fs in finished for f in fs]
            groups = [g for g in range(len(indices)) for _ in range(n)]  # each prompt's samples: one group
            total_r, parts = task.score(flat_idx, flat, group_ids=groups, finished=flat_finished)
            _, judged = score_judges(judge_names, comps, prompt_texts, finished, judge_cache)
            by_policy[name] = [
                {
                    "prompt": prompt_texts[j // n],
                    "prompt_index": j // n,
                    "sample": j % n,
                    "policy": name,
                    "completion": flat[j],
                    "finished": bool(flat_finished[j]),
                    "rewards": {
                        k: _float(v[j])
                        for k, v in {"reward": total_r, **parts}.items()
                        if not k.endswith("/weighted")
                    },
                    "judges": {k: float(v[j]) for k, v in judged.items()},
                }
                for j in range(len(flat))
            ]
    count = len(indices) * n
    return [by_policy[name][j] for j in range(count) for name in names]


def text_table(rows: Sequence[dict[str, Any]], console_width: int | None = None) -> str | None:
    """Print ``rows`` (:func:`generate_text`) as tables: completions side by side per prompt, then the mean
    of every score per policy. Uses rich when installed; returns the plain-text rendering otherwise.

    Returns:
        ``None`` when rich printed the tables, else the plain text to print.
    """
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    scores = list(dict.fromkeys(k for r in rows for k in r["rewards"]))
    judges = list(dict.fromkeys(k for r in rows for k in r["judges"]))
    fmt = lambda v: "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"  # noqa: E731

    def cell_scores(r: dict[str, Any]) -> str:
        parts = [f"{k} {fmt(v)}" for k, v in r["rewards"].items()]
        parts += [f"judge: {k} {fmt(v)}" for k, v in r["judges"].items()]
        return ", ".join(parts)

    groups: dict[tuple[int, int], dict[str, dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["prompt_index"], r["sample"]), {})[r["policy"]] = r
    # keyed by (part, name): the default reward has a `completion` component and `completion` is also a judge
    keyed = [("rewards", k) for k in scores] + [("judges", k) for k in judges]
    means = {
        p: {(part, k): _nanmean([r[part].get(k) for r in rows if r["policy"] == p]) for part, k in keyed}
        for p in policies
    }
    label = {(part, k): k if part == "rewards" else f"judge: {k}" for part, k in keyed}
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        lines: list[str] = []
        last = None
        for (pi, si), by in groups.items():
            first = next(iter(by.values()))
            if pi != last:
                lines.append(f"prompt {pi + 1}: {first['prompt']}")
                last = pi
            for p in policies:
                if p in by:
                    text = " ".join(by[p]["completion"].split())
                    lines.append(f"  [{si + 1}] {p:<6} {text}")
                    lines.append(f"  {'':>{len(str(si + 1)) + 2}} {'':<6} ({cell_scores(by[p])})")
        lines.append("")
        lines.append(f"{'mean':<20}" + "".join(f"{p:>12}" for p in policies))
        for key in keyed:
            lines.append(f"{label[key]:<20}" + "".join(f"{fmt(means[p][key]):>12}" for p in policies))
        return "\n".join(lines)
    from rich.markup import escape  # a completion may hold "[...]", which rich would read as markup

    console = Console(width=console_width)
    table = Table(title="aigc-rl generate", show_lines=True)
    table.add_column("prompt", overflow="fold")
    for p in policies:
        table.add_column(p, overflow="fold")
    for (pi, si), by in groups.items():
        first = next(iter(by.values()))
        cells = [
            f"{escape(by[p]['completion'])}\n[dim]{cell_scores(by[p])}[/dim]" if p in by else "-"
            for p in policies
        ]
        table.add_row(f"{pi + 1}.{si + 1} {escape(first['prompt'])}", *cells)
    console.print(table)
    summary = Table(title="mean over completions")
    summary.add_column("score")
    for p in policies:
        summary.add_column(p, justify="right")
    for key in keyed:
        summary.add_row(label[key], *(fmt(means[p][key]) for p in policies))
    console.print(summary)
    return None


def _float(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _nanmean(values: Sequence[Any]) -> float:
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return sum(vals) / len(vals) if vals else float("nan")


# -- image ----------------------------------------------------------------------------------------------------


def grid_size(n: int) -> tuple[int, int]:
    """Pixel size ``(width, height)`` of the grid PNG of ``n`` images per policy (two rows)."""
    return round((_LABEL_IN + n * _CELL_IN) * _DPI), round(_HEIGHT_IN * _DPI)


def generate_image(run_dir: str | Path, opts: GenerateOptions) -> tuple[Path, list[dict[str, Any]]]:
    """Draw ``n`` images of one target class from a finished image run's base and tuned policies; write a grid.

    Both policies get the same prior draws ``z0`` (seeded): the base policy uses ``z0`` as its latent (random
    latents), the tuned policy acts on the observation built from the target and ``z0`` (its mean action), as
    in ``aigc-rl eval`` (:func:`aigc_rl.agents.sb3.latent_eval.evaluate_latent`). The held-out judge classifier
    predicts each image's class.

    Args:
        run_dir: A finished image run (``run.json`` kind ``image``, ``latent.json`` and the final policy files).
        opts: ``n`` (default :data:`DEFAULT_IMAGES`), ``policy`` (``init`` is refused: image runs have none),
            ``seed`` (default the run's), ``target_class``, ``out``.

    Returns:
        ``(png_path, rows)``: the grid (``grid_size(n)`` pixels; row ``base`` above row ``tuned``, or one of
        them) and one row per image ``{"policy", "index", "target", "judge_pred", "judge_prob" (the judge's
        probability of the target), "rewards": {"reward", COMPONENT: float}}``.

    Raises:
        FileNotFoundError: the run has not finished (no final policy) or ``--out``'s directory is missing.
        ConfigError: a bad option, a text-only option, or a target class outside the run's classes.
        UserFileError: damaged policy files.
    """
    opts.check()
    text_only = [
        flag
        for flag, v in (
            ("--prompt", opts.prompts),
            ("--prompts", opts.prompts_file),
            ("--max-new-tokens", opts.max_new_tokens),
            ("--temperature", opts.temperature),
            ("--judges", opts.judges),
        )
        if v
    ]
    if text_only:
        raise ConfigError(
            f"{', '.join(text_only)} apply to text runs only; an image run takes -n, --policy, --seed, "
            "--target-class and --out"
        )
    if opts.policy == "init":
        raise ConfigError("--policy init: image runs have no init policy; choose base, tuned or all")
    import numpy as np

    from .agents.sb3.latent_eval import rollout
    from .agents.sb3.policy_io import POLICY_META, POLICY_WEIGHTS, load_policy
    from .envs.image.latent_image import LatentImageTask
    from .generators.store import load_model
    from .rewards.composite import make_composite
    from .rewards.spec import image_reward_pairs

    run_dir = Path(run_dir)
    meta_path = run_dir / "latent.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} is missing: the image run directory is incomplete")
    if not ((run_dir / POLICY_META).is_file() and (run_dir / POLICY_WEIGHTS).is_file()):
        raise FileNotFoundError(
            f"{run_dir} holds no final policy ({POLICY_META} + {POLICY_WEIGHTS}): the run has not finished "
            f"training (resume it with `aigc-rl train --output-dir {run_dir} --resume`)"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserFileError(f"{meta_path}: unreadable ({e})") from None
    ekw = {**meta.get("env_kwargs", {}), "memory_size": 0}
    n_classes = int(ekw.get("n_classes", 10))
    target = opts.target_class if opts.target_class is not None else ekw.get("target_class")
    target = 0 if target is None else int(target)
    if not 0 <= target < n_classes:
        raise ConfigError(f"--target-class must be an integer in 0..{n_classes - 1}, got {target}")
    n = opts.n or DEFAULT_IMAGES
    seed = int(meta.get("seed", 0)) if opts.seed is None else opts.seed
    name = f"generate-{run_dir.resolve().name}-class{target}.png"
    out = check_out_file(opts.out if opts.out is not None else name, "--out")

    model = load_policy(run_dir)  # reads policy.json + policy.safetensors (a damaged pair: exit 2)
    reward_model: Any = make_composite(image_reward_pairs(meta["reward"]))
    task = LatentImageTask(generator=meta["generator"], reward=reward_model, **ekw)
    judge: Any = load_model("judge")
    names = ("base", "tuned") if opts.policy == "all" else (opts.policy,)
    targets = np.full(n, target, dtype=np.int64)
    import torch

    images: dict[str, np.ndarray] = {}
    rows: list[dict[str, Any]] = []
    for pol in names:
        imgs = rollout(None if pol == "base" else model, task, targets, seed, deterministic=True)
        total, comps = reward_model.compute(imgs, None, target=targets.tolist())
        with torch.no_grad():
            probs = judge.probs(torch.from_numpy(np.ascontiguousarray(imgs))).numpy()
        preds = probs.argmax(1)
        images[pol] = imgs
        for i in range(n):
            rew = {"reward": total[i]} | {k: v[i] for k, v in comps.items() if not k.endswith("/weighted")}
            rows.append(
                {
                    "policy": pol,
                    "index": i,
                    "target": target,
                    "judge_pred": int(preds[i]),
                    "judge_prob": float(probs[i, target]),
                    "rewards": {k: float("nan") if v is None else float(v) for k, v in rew.items()},
                }
            )
    preds_by = {p: [r["judge_pred"] for r in rows if r["policy"] == p] for p in names}
    _write_grid(
        out, images, preds_by, target, f"{meta['agent']} on {meta['generator']}, target class {target}"
    )
    return out, rows


def _write_grid(
    path: Path, images: dict[str, Any], preds: dict[str, list[int]], target: int, title: str
) -> None:
    """The grid PNG (atomically): one row per policy, each image titled with the judge's predicted class
    (green when it is the target, red otherwise)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(v) for v in images.values())
    fig = plt.figure(figsize=(_LABEL_IN + n * _CELL_IN, _HEIGHT_IN), dpi=_DPI)
    left = _LABEL_IN / (_LABEL_IN + n * _CELL_IN)
    axes = fig.subplots(
        2, n, squeeze=False, gridspec_kw={"left": left, "right": 0.99, "top": 0.8, "bottom": 0.02}
    )
    for r in range(2):
        for j in range(n):
            axes[r, j].axis("off")
    for r, (pol, imgs) in enumerate(images.items()):
        for j, img in enumerate(imgs):
            ax = axes[r, j]
            ax.imshow(img, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
            ok = preds[pol][j] == target
            ax.set_title(f"judge {preds[pol][j]}", fontsize=8, color="green" if ok else "red")
        fig.text(0.01, 0.8 - 0.39 * (r + 0.5), pol, fontsize=10, va="center")
    fig.suptitle(title, fontsize=9)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=_DPI, format="png")
    plt.close(fig)
    os.replace(tmp, path)


def image_summary(rows: Sequence[dict[str, Any]]) -> str:
    """Plain lines: per policy, the judge's hit rate on the target class and the mean reward."""
    lines = []
    for pol in dict.fromkeys(r["policy"] for r in rows):
        mine = [r for r in rows if r["policy"] == pol]
        hits = sum(r["judge_pred"] == r["target"] for r in mine)
        preds = " ".join(str(r["judge_pred"]) for r in mine)
        lines.append(
            f"{pol:<6} judge on target {hits}/{len(mine)}, mean reward "
            f"{_nanmean([r['rewards'].get('reward') for r in mine]):.3f}; judge predictions: {preds}"
        )
    return "\n".join(lines)
